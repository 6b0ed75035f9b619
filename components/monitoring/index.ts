/** The Monitoring component's public surface: the component, its args and the ports others use. */
export { Monitoring } from "./monitoring";
export {
    EXPORTER_PORTS,
    GRAFANA_PORT,
    KSM_RESOURCES,
    PROMETHEUS_PORT,
    SCRAPE_ANNOTATIONS,
    resolveMonitoringArgs,
    type MonitoringArgs,
    type MonitoringImage,
} from "./config";
export { prometheusConfig } from "./prometheus";
