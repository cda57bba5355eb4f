// Package dashboards holds the tests of the operators' Grafana dashboard
// (docs/grafana/portcullis.json) and Prometheus alerting rules
// (docs/prometheus/alerts.yml). They keep both to the metrics a host exports,
// so that a renamed metric or label does not leave a panel silently empty or an
// alert that can never fire.
package dashboards
