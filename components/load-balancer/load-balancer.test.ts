import { strict as assert } from "node:assert";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { cloudFakes } from "../../offline/cloud-fakes";
import { validateK8sObject, validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { evaluate } from "../../offline/engine";
import { GATEWAY_CLASS, SharedLoadBalancer } from "./load-balancer";

/** A stand-in for a component that owns a UI and adds its route. */
class App extends pulumi.ComponentResource {
    readonly url: pulumi.Output<string>;
    constructor(name: string, lb: SharedLoadBalancer) {
        super("test:index:App", name);
        this.url = lb.addRoute(
            name,
            { namespace: name, service: `${name}-web`, port: 8080, healthPath: "/healthz" },
            this,
        ).url;
        this.registerOutputs({});
    }
}

function build(
    domain: string | undefined,
    apps: string[] = ["airflow", "mlflow", "grafana", "docs"],
) {
    return evaluate(
        () => {
            const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
            const lb = new SharedLoadBalancer("dev", {
                domain,
                namespace: "gateway",
                k8sProvider: provider,
                // The sslip.io fallback is refused unless asked for (tested below).
                allowPlainHttp: domain === undefined,
            });
            return Object.fromEntries(apps.map((a) => [a, new App(a, lb).url]));
        },
        { outputs: cloudFakes("acme-taxi-dev") },
    );
}

describe("components/load-balancer", () => {
    it("serves every UI through ONE global address and ONE Gateway, with managed TLS for a domain", async () => {
        const r = await build("data.example.com");
        assert.equal(r.ofType("gcp:compute/globalAddress:GlobalAddress").length, 1);
        assert.equal(r.ofType("gcp:compute/address:Address").length, 0);
        const gateways = r.ofType("kubernetes:gateway.networking.k8s.io/v1:Gateway");
        assert.equal(gateways.length, 1);
        const gw = gateways[0]!.inputs as Record<string, any>;
        assert.equal(gw.spec.gatewayClassName, GATEWAY_CLASS);
        assert.deepEqual(gw.spec.addresses, [{ type: "NamedAddress", value: "dev-ip" }]);
        assert.deepEqual(
            gw.spec.listeners.map((l: any) => `${l.name}:${l.port}`),
            ["http:80", "https:443"],
        );
        assert.equal(gw.metadata.annotations["networking.gke.io/certmap"], "dev-certs");
        const cert = r.get("gcp:certificatemanager/certificate:Certificate", "dev-cert")
            .inputs as Record<string, any>;
        assert.deepEqual(cert.managed.domains, ["data.example.com", "*.data.example.com"]);

        const routes = r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute");
        const appRoutes = routes.filter((x) => x.name.endsWith("-route"));
        assert.deepEqual(
            appRoutes.map((x) => x.parent).sort(),
            [
                "test:index:App::airflow",
                "test:index:App::docs",
                "test:index:App::grafana",
                "test:index:App::mlflow",
            ],
            "routes belong to the owning component",
        );
        for (const route of appRoutes) {
            const spec = (route.inputs as Record<string, any>).spec;
            assert.deepEqual(spec.parentRefs, [
                { name: "dev", namespace: "gateway", sectionName: "https" },
            ]);
        }
        // Each route brings its backend's health check (GKE's default `GET /` fails on redirects).
        const checks = r.ofType("kubernetes:networking.gke.io/v1:HealthCheckPolicy");
        assert.equal(checks.length, appRoutes.length);
        for (const c of checks) {
            const obj = c.inputs as Record<string, any>;
            assert.equal(obj.spec.default.config.httpHealthCheck.requestPath, "/healthz");
            assert.equal(obj.spec.targetRef.kind, "Service");
            assert.match(obj.spec.default.config.httpHealthCheck.host, /\.data\.example\.com$/);
            await validateRecorded(obj as K8sObject);
        }
        assert.deepEqual(r.outputs, {
            airflow: "https://airflow.data.example.com",
            mlflow: "https://mlflow.data.example.com",
            grafana: "https://grafana.data.example.com",
            docs: "https://docs.data.example.com",
        });
        const redirect = r.get(
            "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
            "dev-https-redirect",
        ).inputs as Record<string, any>;
        assert.equal(redirect.spec.rules[0].filters[0].requestRedirect.scheme, "https");
        for (const route of routes) await validateK8sObject(route.inputs as K8sObject);
        await validateK8sObject(gateways[0]!.inputs as K8sObject);
    });

    it("without a domain: no certificates, HTTP only, sslip.io hosts on the one IP", async () => {
        const r = await build(undefined, ["airflow"]);
        for (const t of [
            "Certificate",
            "CertificateMap",
            "CertificateMapEntry",
            "DnsAuthorization",
        ]) {
            const token = `gcp:certificatemanager/${t[0]!.toLowerCase()}${t.slice(1)}:${t}`;
            assert.equal(r.ofType(token).length, 0, `${t} absent without a domain`);
        }
        const gw = r.ofType("kubernetes:gateway.networking.k8s.io/v1:Gateway")[0]!.inputs as Record<
            string,
            any
        >;
        assert.deepEqual(
            gw.spec.listeners.map((l: any) => l.name),
            ["http"],
        );
        assert.deepEqual(gw.metadata.annotations, {});
        assert.equal(
            r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").length,
            1,
            "no redirect route",
        );
        assert.deepEqual(r.outputs, { airflow: "http://airflow.203-0-113-20.sslip.io" });
    });

    it("rejects managed certificates without a domain, naming both args", async () => {
        await assert.rejects(
            evaluate(() => {
                const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
                return new SharedLoadBalancer("dev", {
                    namespace: "gateway",
                    k8sProvider: provider,
                    managedCertificates: true,
                });
            }),
            /managedCertificates is true but domain is empty/,
        );
    });

    it("refuses plain HTTP unless asked for: every route carries a login or a credential", async () => {
        await assert.rejects(
            evaluate(() => {
                const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
                return new SharedLoadBalancer("dev", {
                    namespace: "gateway",
                    k8sProvider: provider,
                });
            }),
            /no TLS \(domain "", managedCertificates false\): the routes would carry the Airflow and Grafana logins and the S3 trigger's password over plain HTTP\. Set a domain/,
        );
        await assert.rejects(
            evaluate(() => {
                const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
                return new SharedLoadBalancer("dev", {
                    domain: "data.example.com",
                    managedCertificates: false,
                    namespace: "gateway",
                    k8sProvider: provider,
                });
            }),
            /no TLS \(domain "data\.example\.com", managedCertificates false\)/,
        );
    });
});
