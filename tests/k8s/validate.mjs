// validate.mjs - checks a rendering of the chart or of a kustomize variant.
//
// usage: node validate.mjs --modules DIR --name NAME [--expect KEY=VALUE]...
//                          [--dump FILE.json] RENDERED.yaml
//
// 1. Every object against the Kubernetes API schemas (kubernetes-models, and
//    the cert-manager and prometheus-operator models for their kinds), with
//    no field the schema does not know: each object is validated through
//    proxies that record the fields the schema's validator reads, and a
//    field it never read is unknown (a typo such as readOnlyRootFileSystem).
// 2. The invariants of an etcd-medic pod (README, Kubernetes): the launcher
//    copied by an init container and run as etcd's command, the sidecar
//    (native or not) with its probes, the security context, odd replicas,
//    the PDB, anti-affinity and spread, Services, configuration files that
//    name only mounted paths.
// --expect checks that an option took effect: replicas=N, native=BOOL,
// tls=BOOL, backup=none|pvc|s3, helmTest=BOOL, serviceMonitor=BOOL,
// certificates=N, antiAffinity=soft|hard, spread=BOOL, auth=BOOL,
// podAnnotations=BOOL, backupClaim=existing.
// --dump writes the objects as JSON for pods.py.
// Exit status 0 when everything holds; every failure is printed.

import { readFileSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { pathToFileURL } from "node:url";

const argv = process.argv.slice(2);
let modules = "", name = "", dump = "", input = "";
const expect = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--modules") modules = argv[++i];
  else if (a === "--name") name = argv[++i];
  else if (a === "--dump") dump = argv[++i];
  else if (a === "--expect") {
    const [k, ...v] = argv[++i].split("=");
    expect[k] = v.join("=");
  } else input = a;
}
if (!modules || !input) {
  console.error("usage: node validate.mjs --modules DIR --name NAME [--expect K=V]... [--dump F] FILE");
  process.exit(2);
}
const nm = (p) => pathToFileURL(join(modules, "node_modules", p)).href;
const YAML = await import(nm("yaml/dist/index.js"));

const failures = [];
const fail = (what) => failures.push(what);
const check = (cond, what) => { if (!cond) fail(what); return cond; };

// ---- 1. schemas -------------------------------------------------------

const K = "kubernetes-models/_schemas/";
const CM = "@kubernetes-models/cert-manager/_schemas/ComGithubCertManagerCertManagerPkgApisCertmanagerV1";
const schemas = {
  "v1/ConfigMap": K + "IoK8sApiCoreV1ConfigMap.js",
  "v1/Secret": K + "IoK8sApiCoreV1Secret.js",
  "v1/Service": K + "IoK8sApiCoreV1Service.js",
  "v1/Pod": K + "IoK8sApiCoreV1Pod.js",
  "v1/PersistentVolumeClaim": K + "IoK8sApiCoreV1PersistentVolumeClaim.js",
  "apps/v1/StatefulSet": K + "IoK8sApiAppsV1StatefulSet.js",
  "policy/v1/PodDisruptionBudget": K + "IoK8sApiPolicyV1PodDisruptionBudget.js",
  "cert-manager.io/v1/Certificate": CM + "Certificate.js",
  "cert-manager.io/v1/Issuer": CM + "Issuer.js",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor.js",
};

// Wraps a plain JSON value in proxies recording which fields are read.
function watched(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const read = new Set();
  let target;
  if (Array.isArray(value)) {
    target = value.map((v, i) => watched(v, `${path}/${i}`, seen));
  } else {
    target = {};
    for (const [k, v] of Object.entries(value)) target[k] = watched(v, `${path}/${k}`, seen);
    seen.push({ path, keys: Object.keys(value), read });
  }
  return new Proxy(target, {
    get(t, k, r) {
      if (typeof k === "string") read.add(k);
      return Reflect.get(t, k, r);
    },
  });
}

const text = readFileSync(input, "utf8");
const docs = [];
for (const d of YAML.parseAllDocuments(text, { version: "1.1" })) {
  if (d.errors.length) {
    fail(`YAML: ${d.errors.map((e) => e.message).join("; ")}`);
    continue;
  }
  const o = d.toJS();
  if (o !== null && o !== undefined) docs.push(o);
}
check(docs.length > 0, "no objects rendered");

for (const o of docs) {
  const id = `${o.kind}/${o.metadata?.name}`;
  const key = `${o.apiVersion}/${o.kind}`;
  if (!check(o.metadata && typeof o.metadata.name === "string", `${key}: no metadata.name`)) continue;
  if (!check(key in schemas, `${id}: ${key} is not a kind this project renders`)) continue;
  const { validate } = await import(nm(schemas[key]));
  const seen = [];
  const ok = validate(watched(o, "", seen), {});
  if (!ok) {
    for (const e of validate.errors) fail(`${id}: schema: ${e.instancePath || "/"} ${e.keyword} ${JSON.stringify(e.params)}`);
  }
  for (const s of seen) {
    for (const k of s.keys) if (!s.read.has(k)) fail(`${id}: unknown field ${s.path}/${k}`);
  }
}

// ---- 2. invariants ----------------------------------------------------

const byKind = (k) => docs.filter((o) => o.kind === k);
const one = (k) => byKind(k)[0];
const subset = (a, b) => a && b && Object.entries(a).every(([k, v]) => b[k] === v);
const truthy = (v) => v === "true";

const sts = byKind("StatefulSet");
check(sts.length === 1, `one StatefulSet expected, found ${sts.length}`);
const ss = sts[0];
const out = { name, docs };
if (ss) {
  const spec = ss.spec ?? {};
  const pod = spec.template?.spec ?? {};
  const podLabels = spec.template?.metadata?.labels ?? {};
  const replicas = spec.replicas;
  check(Number.isInteger(replicas) && replicas >= 1 && replicas % 2 === 1, `replicas must be odd, is ${replicas}`);
  if (expect.replicas) check(replicas === Number(expect.replicas), `replicas ${replicas}, expected ${expect.replicas}`);
  check(spec.podManagementPolicy === "Parallel", "podManagementPolicy must be Parallel (a new cluster needs every member to start)");
  check(subset(spec.selector?.matchLabels, podLabels), "the selector does not match the pod labels");

  // Services.
  const svcs = byKind("Service");
  const peer = svcs.find((s) => s.metadata.name === spec.serviceName);
  if (check(peer, `serviceName ${spec.serviceName}: no such Service`)) {
    check(peer.spec.clusterIP === "None", "the peer Service must be headless");
    check(peer.spec.publishNotReadyAddresses === true, "the peer Service must publish not-ready addresses");
    check(subset(peer.spec.selector, podLabels), "the peer Service does not select the pods");
  }
  const client = svcs.find((s) => s !== peer && s.spec.clusterIP !== "None" && subset(s.spec.selector, podLabels));
  check(client, "no client Service selecting the pods");

  // PDB.
  const pdb = one("PodDisruptionBudget");
  if (check(pdb, "no PodDisruptionBudget")) {
    check(pdb.spec.maxUnavailable === 1, `the PDB must allow one member down, says ${pdb.spec.maxUnavailable}`);
    check(subset(pdb.spec.selector?.matchLabels, podLabels), "the PDB does not select the pods");
  }

  // Scheduling.
  const aa = pod.affinity?.podAntiAffinity ?? {};
  const soft = aa.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
  const hard = aa.requiredDuringSchedulingIgnoredDuringExecution?.[0];
  const term = hard ?? soft;
  if (check(term, "no pod anti-affinity")) {
    check(term.topologyKey === "kubernetes.io/hostname", "anti-affinity must be per node");
    check(subset(term.labelSelector?.matchLabels, podLabels), "anti-affinity does not select the pods");
  }
  if (expect.antiAffinity) check((hard ? "hard" : "soft") === expect.antiAffinity, `anti-affinity should be ${expect.antiAffinity}`);
  const spread = pod.topologySpreadConstraints ?? [];
  if ((expect.spread ?? "true") === "true") {
    check(spread.length > 0 && spread.every((t) => subset(t.labelSelector?.matchLabels, podLabels) && t.maxSkew === 1),
      "topology spread constraints missing or not selecting the pods");
  } else check(spread.length === 0, "topology spread should be off");

  // Pod security.
  check(pod.automountServiceAccountToken === false, "the pod must not mount a service-account token");
  const psc = pod.securityContext ?? {};
  check(psc.runAsNonRoot === true && psc.runAsUser > 0, "the pod must run as non-root");
  const inits = pod.initContainers ?? [];
  const mains = pod.containers ?? [];
  const all = [...inits, ...mains];
  for (const c of all) {
    const sc = c.securityContext ?? {};
    const w = `container ${c.name}`;
    check(sc.allowPrivilegeEscalation === false, `${w}: allowPrivilegeEscalation must be false`);
    check(sc.readOnlyRootFilesystem === true, `${w}: the root filesystem must be read-only`);
    check((sc.capabilities?.drop ?? []).includes("ALL") && !(sc.capabilities?.add ?? []).length, `${w}: all capabilities must be dropped`);
    check(sc.runAsNonRoot !== false && sc.privileged !== true && !(sc.runAsUser === 0), `${w}: must run as non-root`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    check(seccomp === "RuntimeDefault", `${w}: seccomp must be RuntimeDefault`);
    const r = c.resources ?? {};
    check(r.requests?.cpu && r.requests?.memory && r.limits?.memory, `${w}: needs cpu and memory requests and a memory limit`);
  }

  // Volumes and mounts: one meaning for a path in every container.
  const vols = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const t of spec.volumeClaimTemplates ?? []) vols[t.metadata.name] = { name: t.metadata.name, pvcTemplate: t };
  const pathOwner = {};
  for (const c of all) {
    for (const m of c.volumeMounts ?? []) {
      check(vols[m.name], `container ${c.name}: mount of unknown volume ${m.name}`);
      if (pathOwner[m.mountPath] && pathOwner[m.mountPath] !== m.name) fail(`${m.mountPath} is volume ${pathOwner[m.mountPath]} in one container and ${m.name} in another`);
      pathOwner[m.mountPath] = m.name;
    }
  }
  const cms = Object.fromEntries(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
  for (const v of Object.values(vols)) {
    if (v.configMap) check(cms[v.configMap.name], `volume ${v.name}: no ConfigMap ${v.configMap.name}`);
  }
  out.externalSecrets = Object.values(vols).filter((v) => v.secret && !byKind("Secret").some((s) => s.metadata.name === v.secret.secretName)).map((v) => v.secret.secretName);
  // volumeOf(container, path): the volume holding path in that container.
  const volumeOf = (c, p) => {
    let best = null;
    for (const m of c?.volumeMounts ?? []) {
      if ((p === m.mountPath || p.startsWith(m.mountPath + "/")) && (!best || m.mountPath.length > best.mountPath.length)) best = m;
    }
    return best ? vols[best.name] : null;
  };

  // The launcher's copy.
  const etcd = mains.find((c) => c.name === "etcd");
  const medicInit = inits.find((c) => c.name === "etcd-medic");
  const medicMain = mains.find((c) => c.name === "etcd-medic");
  const medic = medicInit ?? medicMain;
  const install = inits.find((c) => c !== medicInit && (c.command ?? []).some((a) => a.endsWith("/etcd-medic-launch")));
  check(etcd, "no etcd container");
  check(medic, "no etcd-medic container");
  let launcherVol = null;
  if (check(install, "no init container copying etcd-medic-launch")) {
    check(install.restartPolicy === undefined, "the launcher's init container must run to completion");
    const dst = install.command[install.command.length - 1];
    launcherVol = volumeOf(install, dst);
    check(install.command[0] === "cp" && launcherVol?.emptyDir, `the launcher must be copied into an emptyDir, not ${dst}`);
  }

  // etcd: the launcher is its command, then etcd.
  if (etcd) {
    const cmd = etcd.command ?? [];
    const launcher = cmd[0] ?? "";
    check(launcher.endsWith("/etcd-medic-launch") && volumeOf(etcd, launcher) === launcherVol && launcherVol,
      `etcd's command must be the launcher from the shared emptyDir, is ${launcher}`);
    check((etcd.volumeMounts ?? []).some((m) => vols[m.name] === launcherVol && m.readOnly === true), "etcd must mount the launcher read-only");
    const dd = cmd.indexOf("--");
    check(dd > 0 && posix.basename(cmd[dd + 1] ?? "") === "etcd" && (etcd.args ?? []).length === 0,
      "the launcher must run etcd after --, without further arguments (it appends --config-file)");
    const opt = (o) => { const i = cmd.indexOf(o); return i > 0 && i < dd ? cmd[i + 1] : undefined; };
    const port = medic?.ports?.find((p) => p.name === "medic")?.containerPort;
    check(opt("--sidecar") === `http://127.0.0.1:${port}`, `--sidecar must be the sidecar on loopback, port ${port}`);
    for (const o of ["--status-file", "--config-out"]) {
      const p = opt(o);
      check(p && volumeOf(etcd, p)?.pvcTemplate, `${o} must be on the data volume, is ${p}`);
    }
    const tf = opt("--token-file");
    check(tf && volumeOf(etcd, tf)?.secret, `--token-file must be in a mounted Secret, is ${tf}`);
    const rp = etcd.readinessProbe?.httpGet;
    check(rp?.path === "/readyz" && rp?.port === port, "etcd's readiness must be the sidecar's /readyz");
    const ports = Object.fromEntries((etcd.ports ?? []).map((p) => [p.name, p.containerPort]));
    check(ports.client && ports.peer, "etcd must declare its client and peer ports");
    out.launcher = { tokenFile: tf };
  }

  // The sidecar.
  if (medic) {
    const native = Boolean(medicInit);
    if (native) {
      check(medicInit.restartPolicy === "Always", "a native sidecar needs restartPolicy Always");
      check(inits.indexOf(install) < inits.indexOf(medicInit), "install-launcher should come before the sidecar");
    } else {
      check(medicMain.restartPolicy === undefined, "an ordinary sidecar container has no restartPolicy");
    }
    if (expect.native) check(String(native) === expect.native, `native sidecar should be ${expect.native}`);
    const port = medic.ports?.find((p) => p.name === "medic")?.containerPort;
    for (const probe of ["startupProbe", "livenessProbe"]) {
      const g = medic[probe]?.httpGet;
      check(g?.path === "/healthz" && g?.port === port, `the sidecar's ${probe} must be /healthz on port ${port}`);
    }
    const args = medic.args ?? [];
    check(args[0] === "serve" && args[1] === "--config", `the sidecar must run serve --config, runs ${args.join(" ")}`);
    const cfgPath = args[2] ?? "";
    const cfgVol = volumeOf(medic, cfgPath);
    const cm = cfgVol?.configMap && cms[cfgVol.configMap.name];
    if (check(cm, `the sidecar's config ${cfgPath} is not in a mounted ConfigMap`)) {
      const mount = medic.volumeMounts.find((m) => vols[m.name] === cfgVol);
      const file = posix.relative(mount.mountPath, cfgPath);
      const sidecar = YAML.parse(cm.data?.[file] ?? "", { version: "1.1" }) ?? {};
      const ecPath = posix.resolve(posix.dirname(cfgPath), sidecar["etcd-config"] ?? "");
      const ecFile = posix.relative(mount.mountPath, ecPath);
      const ec = YAML.parse(cm.data?.[ecFile] ?? "", { version: "1.1" }) ?? {};
      check(cm.data?.[ecFile], `etcd-config ${ecPath} is not in the ConfigMap`);
      out.config = { configMap: cm.metadata.name, sidecarFile: file, etcdFile: ecFile };
      const known = ["etcd-config", "endpoints", "listen", "log", "tls", "auth", "heal", "server", "watch", "backup"];
      for (const k of Object.keys(sidecar)) check(known.includes(k), `sidecar config: unknown key ${k}`);
      check(String(sidecar.listen ?? "").endsWith(`:${port}`), `sidecar listen ${sidecar.listen} is not port ${port}`);
      const eps = Array.isArray(sidecar.endpoints) ? sidecar.endpoints : String(sidecar.endpoints ?? "").split(",");
      check(eps.length === replicas, `${eps.length} endpoints for ${replicas} members`);
      const ic = String(ec["initial-cluster"] ?? "").split(",");
      check(ic.length === replicas && ic.every((m, i) => m.startsWith(`${ss.metadata.name}-${i}=`)), `initial-cluster does not list ${replicas} members ${ss.metadata.name}-N`);
      check(ec["enable-grpc-gateway"] === true, "etcd config must enable the gRPC gateway");
      check(ec.name === "${POD_NAME}", "etcd config: name must be ${POD_NAME}");
      const dataDir = ec["data-dir"] ?? "";
      for (const c of [etcd, medic]) {
        check(c && volumeOf(c, dataDir)?.pvcTemplate && dataDir !== (c.volumeMounts.find((m) => vols[m.name]?.pvcTemplate)?.mountPath),
          `data-dir ${dataDir} must be a subdirectory of the data volume in ${c?.name} (the quarantine renames it)`);
      }
      check(sidecar.server?.["token-file"] && volumeOf(medic, sidecar.server["token-file"])?.secret, "server.token-file must be in a mounted Secret");
      check(sidecar.server?.["token-file"] === out.launcher?.tokenFile, "the launcher and the sidecar must use one token file");
      // TLS.
      const https = String(ec["listen-client-urls"]).startsWith("https://");
      if (expect.tls) check(String(https) === expect.tls, `TLS should be ${expect.tls}`);
      for (const k of ["listen-peer-urls", "initial-advertise-peer-urls", "advertise-client-urls"]) {
        check(String(ec[k]).startsWith(https ? "https://" : "http://"), `${k} does not match the client URLs' scheme`);
      }
      check(eps.every((e) => e.startsWith(https ? "https://" : "http://")), "endpoints do not match etcd's scheme");
      if (https) {
        for (const sec of ["client-transport-security", "peer-transport-security"]) {
          const t = ec[sec] ?? {};
          check(t["client-cert-auth"] === true, `${sec}: client-cert-auth must be on`);
          for (const f of ["cert-file", "key-file", "trusted-ca-file"]) check(t[f] && volumeOf(etcd, t[f])?.secret, `${sec}.${f} ${t[f]} is not in a Secret mounted in etcd`);
        }
        for (const f of ["ca-file", "cert-file", "key-file"]) check(sidecar.tls?.[f] && volumeOf(medic, sidecar.tls[f])?.secret, `sidecar tls.${f} is not in a mounted Secret`);
      } else {
        check(!sidecar.tls, "sidecar tls set without TLS in etcd");
      }
      // Authentication.
      if (expect.auth) check(String(Boolean(sidecar.auth)) === expect.auth, `auth should be ${expect.auth}`);
      if (sidecar.auth) check(volumeOf(medic, sidecar.auth["password-file"] ?? "")?.secret, "auth.password-file is not in a mounted Secret");
      // Backups.
      const b = sidecar.backup;
      const kind = !b?.enabled ? "none" : String(b.store).startsWith("s3://") ? "s3" : "pvc";
      if (expect.backup) check(kind === expect.backup, `backups should be ${expect.backup}, are ${kind}`);
      if (kind === "pvc") {
        const dir = String(b.store).replace(/^file:\/\//, "");
        const v = volumeOf(medic, dir);
        check(v?.persistentVolumeClaim, `the backup store ${dir} is not on a mounted claim`);
        const pvc = byKind("PersistentVolumeClaim").find((p) => p.metadata.name === v?.persistentVolumeClaim?.claimName);
        if (expect.backupClaim === "existing") check(!pvc, "an existing backup claim must not be rendered");
        else check(pvc, "the backup claim is not rendered");
      }
      if (kind === "s3") check(volumeOf(medic, b.s3?.["credentials-file"] ?? "")?.secret, "backup.s3.credentials-file is not in a mounted Secret");
    }
  }

  // Metrics.
  const ann = spec.template?.metadata?.annotations ?? {};
  if (expect.podAnnotations) check(String(ann["prometheus.io/scrape"] === "true") === expect.podAnnotations, `scrape annotations should be ${expect.podAnnotations}`);
  const sm = byKind("ServiceMonitor");
  if (expect.serviceMonitor) check(String(sm.length === 1) === expect.serviceMonitor, `ServiceMonitor should be ${expect.serviceMonitor}`);
  for (const m of sm) {
    check(subset(m.spec.selector?.matchLabels, peer?.metadata?.labels ?? {}), "the ServiceMonitor does not select the peer Service");
    const ep = m.spec.endpoints.find((e) => e.port === "medic");
    check(ep?.authorization?.credentials?.name, "the ServiceMonitor must send the bearer token");
  }
  if (expect.certificates) check(byKind("Certificate").length === Number(expect.certificates), `expected ${expect.certificates} Certificates, found ${byKind("Certificate").length}`);

  // The helm test hook.
  const tests = byKind("Pod").filter((p) => p.metadata.annotations?.["helm.sh/hook"] === "test");
  if (expect.helmTest) check(String(tests.length === 1) === expect.helmTest, `helm test pod should be ${expect.helmTest}`);
  for (const t of tests) {
    check(t.spec.automountServiceAccountToken === false, "the test pod must not mount a service-account token");
    check(t.spec.restartPolicy === "Never", "the test pod must not restart");
    for (const c of t.spec.containers) {
      const sc = c.securityContext ?? {};
      check(sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && (sc.capabilities?.drop ?? []).includes("ALL"),
        "the test pod must be restricted");
      const args = [...(c.command ?? []), ...(c.args ?? [])];
      const i = args.indexOf("--endpoints");
      check(args.includes("members") && i > 0 && client && args[i + 1].includes(`//${client.metadata.name}.`), "the test must list members through the client Service");
    }
  }
}

if (dump) writeFileSync(dump, JSON.stringify(out, null, 1));
if (failures.length) {
  for (const f of failures) console.log(`FAIL ${name}: ${f}`);
  process.exit(1);
}
console.log(`ok ${name}: ${docs.length} objects valid (${[...new Set(docs.map((d) => d.kind))].join(", ")}), invariants hold`);
