import { strict as assert } from "node:assert";
import {
    connectionAllowed,
    ipBlockCovers,
    selectorMatches,
    type Cluster,
    type NetPod,
    type NetworkPolicy,
} from "./netpol";

const pod = (namespace: string, labels: Record<string, string>, ports: NetPod["ports"] = []) => ({
    pod: { namespace, labels, ports },
});

function cluster(policies: NetworkPolicy[]): Cluster {
    return {
        policies,
        namespaces: { a: { team: "x" }, b: { team: "y" } },
        podCidr: "10.20.0.0/16",
    };
}

const np = (namespace: string, name: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({
    metadata: { namespace, name },
    spec,
});

const denyAll = (ns: string) =>
    np(ns, "default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });

describe("preflight NetworkPolicy semantics", () => {
    it("label selectors: matchLabels AND matchExpressions (In, NotIn, Exists, DoesNotExist)", () => {
        const labels = { app: "web", tier: "front" };
        assert.equal(selectorMatches({}, labels), true);
        assert.equal(selectorMatches({ matchLabels: { app: "web" } }, labels), true);
        assert.equal(selectorMatches({ matchLabels: { app: "db" } }, labels), false);
        const expr = (operator: string, values?: string[]) => ({
            matchExpressions: [{ key: "tier", operator, ...(values ? { values } : {}) }],
        });
        assert.equal(selectorMatches(expr("In", ["front", "back"]), labels), true);
        assert.equal(selectorMatches(expr("In", ["back"]), labels), false);
        assert.equal(selectorMatches(expr("NotIn", ["front"]), labels), false);
        assert.equal(selectorMatches(expr("NotIn", ["front"]), { app: "web" }), true);
        assert.equal(selectorMatches(expr("Exists"), labels), true);
        assert.equal(selectorMatches(expr("DoesNotExist"), labels), false);
        assert.equal(
            selectorMatches({ matchLabels: { app: "web" }, ...expr("In", ["back"]) }, labels),
            false,
        );
        assert.throws(() => selectorMatches(expr("Near"), labels), /unknown operator "Near"/);
    });

    it("ipBlock: inside the CIDR and outside every except", () => {
        assert.equal(ipBlockCovers({ cidr: "0.0.0.0/0" }, "172.16.0.0/28"), true);
        assert.equal(
            ipBlockCovers({ cidr: "0.0.0.0/0", except: ["172.16.0.0/12"] }, "172.16.0.0/28"),
            false,
        );
        assert.equal(ipBlockCovers({ cidr: "10.0.0.0/8" }, "11.0.0.0/24"), false);
        assert.equal(ipBlockCovers({ cidr: "10.20.0.0/24" }, "10.20.0.0/16"), false);
    });

    it("a pod no policy selects is open in both directions", () => {
        const v = connectionAllowed(cluster([]), pod("a", {}), pod("b", {}), 80);
        assert.equal(v.allowed, true);
    });

    it("default deny closes both directions; a connection needs egress AND ingress", () => {
        const src = pod("a", { app: "client" });
        const dst = pod("b", { app: "server" }, [{ name: "http", containerPort: 8080 }]);
        const egress = np("a", "client", {
            podSelector: { matchLabels: { app: "client" } },
            policyTypes: ["Egress"],
            egress: [{ to: [{ namespaceSelector: { matchLabels: { team: "y" } } }] }],
        });
        const ingress = np("b", "server", {
            podSelector: { matchLabels: { app: "server" } },
            policyTypes: ["Ingress"],
            ingress: [
                {
                    from: [
                        {
                            namespaceSelector: {
                                matchLabels: { "kubernetes.io/metadata.name": "a" },
                            },
                            podSelector: { matchLabels: { app: "client" } },
                        },
                    ],
                    ports: [{ port: "http" }],
                },
            ],
        });
        const base = [denyAll("a"), denyAll("b")];
        assert.equal(connectionAllowed(cluster(base), src, dst, 8080).allowed, false);
        assert.equal(connectionAllowed(cluster([...base, egress]), src, dst, 8080).allowed, false);
        const only = connectionAllowed(cluster([...base, ingress]), src, dst, 8080);
        assert.equal(only.allowed, false);
        assert.match(only.egress, /no egress rule of a\/default-deny/);
        const both = connectionAllowed(cluster([...base, egress, ingress]), src, dst, 8080);
        assert.equal(both.allowed, true, JSON.stringify(both));
        // The named port resolves on the destination: 8081 is not "http".
        assert.equal(
            connectionAllowed(cluster([...base, egress, ingress]), src, dst, 8081).allowed,
            false,
        );
        // UDP is another protocol.
        assert.equal(
            connectionAllowed(cluster([...base, egress, ingress]), src, dst, 8080, "UDP").allowed,
            false,
        );
    });

    it("a podSelector peer without namespaceSelector means the policy's own namespace", () => {
        const policy = np("b", "server", {
            podSelector: {},
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ podSelector: { matchLabels: { app: "client" } } }] }],
        });
        const dst = pod("b", { app: "server" });
        assert.equal(
            connectionAllowed(cluster([policy]), pod("b", { app: "client" }), dst, 1).allowed,
            true,
        );
        assert.equal(
            connectionAllowed(cluster([policy]), pod("a", { app: "client" }), dst, 1).allowed,
            false,
        );
    });

    it("ports: endPort ranges; no ports = every port; policyTypes defaulting", () => {
        const ranged = np("b", "r", {
            podSelector: {},
            ingress: [{ ports: [{ protocol: "TCP", port: 7000, endPort: 7100 }] }],
        });
        const dst = pod("b", {});
        assert.equal(connectionAllowed(cluster([ranged]), pod("a", {}), dst, 7078).allowed, true);
        assert.equal(connectionAllowed(cluster([ranged]), pod("a", {}), dst, 7101).allowed, false);
        // No policyTypes and an egress section: both directions isolated.
        const egressOnly = np("a", "e", { podSelector: {}, egress: [] });
        assert.equal(connectionAllowed(cluster([egressOnly]), pod("a", {}), dst, 1).allowed, false);
        // No policyTypes and no egress section: ingress only, egress stays open.
        const ingressOnly = np("a", "i", { podSelector: {}, ingress: [] });
        assert.equal(connectionAllowed(cluster([ingressOnly]), pod("a", {}), dst, 1).allowed, true);
    });

    it("ipBlock peers see addresses outside the pod network, and pods only when covering the pod range", () => {
        const egress = (cidr: string, except?: string[]) =>
            np("a", "e", {
                podSelector: {},
                policyTypes: ["Egress"],
                egress: [
                    {
                        to: [{ ipBlock: { cidr, ...(except ? { except } : {}) } }],
                        ports: [{ port: 443 }],
                    },
                ],
            });
        const src = pod("a", {});
        const api = { cidr: "172.16.0.0/28" };
        assert.equal(
            connectionAllowed(cluster([egress("0.0.0.0/0")]), src, api, 443).allowed,
            true,
        );
        assert.equal(
            connectionAllowed(cluster([egress("0.0.0.0/0", ["172.16.0.0/28"])]), src, api, 443)
                .allowed,
            false,
        );
        assert.equal(
            connectionAllowed(cluster([egress("0.0.0.0/0")]), src, pod("b", {}), 443).allowed,
            true,
        );
        assert.equal(
            connectionAllowed(cluster([egress("192.168.0.0/16")]), src, pod("b", {}), 443).allowed,
            false,
        );
    });
});
