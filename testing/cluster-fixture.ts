/**
 * The setting every in-cluster component test needs: a Kubernetes provider and the shared load
 * balancer (sslip.io fallback, no domain: `allowPlainHttp`, which no stack can set), evaluated
 * offline with the cloud fakes.
 */
import * as k8s from "@pulumi/kubernetes";
import { SharedLoadBalancer } from "../components/load-balancer/load-balancer";
import { cloudFakes } from "../offline/cloud-fakes";
import { evaluate } from "../offline/engine";

export interface Cluster {
    provider: k8s.Provider;
    lb: SharedLoadBalancer;
}

export function evaluateOnCluster<T>(program: (cluster: Cluster) => T) {
    return evaluate(
        () => {
            const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
            const lb = new SharedLoadBalancer("dev", {
                namespace: "gateway",
                k8sProvider: provider,
                allowPlainHttp: true,
            });
            return program({ provider, lb });
        },
        { outputs: cloudFakes("acme-taxi-dev") },
    );
}
