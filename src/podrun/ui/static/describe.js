// `kubectl describe pod` as text, from the pod and its events (kubectl builds it on the client too).

import { age } from "./table.js";

const NONE = "<none>";

function date(timestamp) {
  return timestamp ? new Date(timestamp).toUTCString().replace("GMT", "+0000") : NONE;
}

// Lines of [indent, key, value], aligned as kubectl's tabwriter aligns them: the lines that carry a value form a
// block until a line without one (a heading), and a block's values start two spaces after its longest key.
class Writer {
  constructor() { this.lines = []; }
  line(indent, key, value = "") { this.lines.push([indent, key, value]); }
  text() {
    const out = [];
    const hasValue = ([, , value]) => value !== "" && value !== null;
    const prefix = ([indent, key]) => `${"  ".repeat(indent)}${key}`;
    for (let i = 0; i < this.lines.length;) {
      if (!hasValue(this.lines[i])) { out.push(prefix(this.lines[i])); i++; continue; }
      let j = i;
      while (j < this.lines.length && hasValue(this.lines[j])) j++;
      const block = this.lines.slice(i, j);
      const width = Math.max(...block.map((line) => prefix(line).length)) + 2;
      for (const line of block) out.push(`${prefix(line).padEnd(width)}${line[2]}`);
      i = j;
    }
    return out.join("\n");
  }
}

// How kubectl names the volume types it describes.
const VOLUME_TYPES = {
  emptyDir: "EmptyDir (a temporary directory that shares a pod's lifetime)",
  projected: "Projected (a volume that contains injected data from multiple sources)",
  configMap: "ConfigMap (a volume populated by a ConfigMap)",
  secret: "Secret (a volume populated by a Secret)",
  hostPath: "HostPath (bare host directory volume)",
  downwardAPI: "DownwardAPI (a volume populated by information about the pod)",
};

function mapText(map) {
  const entries = Object.entries(map || {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`) : [NONE];
}

function multi(w, indent, key, values) {
  w.line(indent, `${key}:`, values[0]);
  for (const value of values.slice(1)) w.line(indent, "", value);
}

function state(w, indent, title, st) {
  if (!st || !Object.keys(st).length) { w.line(indent, `${title}:`, "Waiting"); return; }
  if (st.running) {
    w.line(indent, `${title}:`, "Running");
    w.line(indent + 1, "Started:", date(st.running.startedAt));
  } else if (st.waiting) {
    w.line(indent, `${title}:`, "Waiting");
    if (st.waiting.reason) w.line(indent + 1, "Reason:", st.waiting.reason);
  } else if (st.terminated) {
    const t = st.terminated;
    w.line(indent, `${title}:`, "Terminated");
    w.line(indent + 1, "Reason:", t.reason || "");
    if (t.message) w.line(indent + 1, "Message:", t.message);
    w.line(indent + 1, "Exit Code:", String(t.exitCode));
    w.line(indent + 1, "Started:", date(t.startedAt));
    w.line(indent + 1, "Finished:", date(t.finishedAt));
  }
}

function containers(w, title, specs, statuses) {
  if (!specs?.length) return;
  w.line(0, `${title}:`);
  for (const c of specs) {
    const s = (statuses || []).find((x) => x.name === c.name) || {};
    w.line(1, `${c.name}:`);
    w.line(2, "Container ID:", s.containerID || "");
    w.line(2, "Image:", c.image || "");
    w.line(2, "Image ID:", s.imageID || "");
    const ports = (c.ports || []).map((p) => `${p.containerPort}/${p.protocol || "TCP"}`);
    w.line(2, ports.length > 1 ? "Ports:" : "Port:", ports.join(", ") || NONE);
    w.line(2, "Host Port:", (c.ports || []).map((p) => `${p.hostPort || 0}/${p.protocol || "TCP"}`).join(", ") || NONE);
    for (const [key, values] of [["Command", c.command], ["Args", c.args]]) {
      if (values?.length) { w.line(2, `${key}:`); for (const v of values) w.line(3, v, null); }
    }
    state(w, 2, "State", s.state);
    if (s.lastState && Object.keys(s.lastState).length) state(w, 2, "Last State", s.lastState);
    w.line(2, "Ready:", s.ready ? "True" : "False");
    w.line(2, "Restart Count:", String(s.restartCount ?? 0));
    for (const [key, values] of [["Limits", c.resources?.limits], ["Requests", c.resources?.requests]]) {
      if (values && Object.keys(values).length) {
        w.line(2, `${key}:`);
        for (const [k, v] of Object.entries(values)) w.line(3, `${k}:`, v);
      }
    }
    for (const probe of ["liveness", "readiness", "startup"]) {
      const p = c[`${probe}Probe`];
      if (p) w.line(2, `${probe[0].toUpperCase()}${probe.slice(1)}:`, probeText(p));
    }
    const env = c.env || [];
    if (env.length) {
      w.line(2, "Environment:");
      for (const e of env) w.line(3, `${e.name}:`, e.value ?? (e.valueFrom ? "(from a reference)" : ""));
    } else {
      w.line(2, "Environment:", NONE);
    }
    const mounts = c.volumeMounts || [];
    if (mounts.length) {
      w.line(2, "Mounts:");
      for (const m of mounts) w.line(3, `${m.mountPath} from ${m.name} (${m.readOnly ? "ro" : "rw"})`, null);
    } else {
      w.line(2, "Mounts:", NONE);
    }
  }
}

function probeText(p) {
  let how = "unknown";
  if (p.exec) how = `exec [${(p.exec.command || []).join(" ")}]`;
  else if (p.httpGet) how = `http-get ${p.httpGet.scheme === "HTTPS" ? "https" : "http"}://${p.httpGet.host || ""}:${p.httpGet.port}${p.httpGet.path || ""}`;
  else if (p.tcpSocket) how = `tcp-socket ${p.tcpSocket.host || ""}:${p.tcpSocket.port}`;
  else if (p.grpc) how = `grpc <pod>:${p.grpc.port} ${p.grpc.service || ""}`;
  return `${how} delay=${p.initialDelaySeconds || 0}s timeout=${p.timeoutSeconds || 1}s period=${p.periodSeconds || 10}s #success=${p.successThreshold || 1} #failure=${p.failureThreshold || 3}`;
}

export function eventRows(events, now = Date.now()) {
  return events.map((e) => {
    const last = e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp;
    const first = e.firstTimestamp || e.eventTime || last;
    const count = e.count || e.series?.count || 1;
    const when = count > 1 ? `${age(last, now)} (x${count} over ${age(first, now)})` : age(last, now);
    const from = e.source?.component || e.reportingComponent || "";
    return [e.type || "", e.reason || "", when, from, (e.message || "").trim()];
  });
}

export function describePod(pod, events, now = Date.now()) {
  const w = new Writer();
  const meta = pod.metadata, spec = pod.spec || {}, status = pod.status || {};
  w.line(0, "Name:", meta.name);
  w.line(0, "Namespace:", meta.namespace);
  w.line(0, "Priority:", String(spec.priority ?? 0));
  w.line(0, "Service Account:", spec.serviceAccountName || "default");
  w.line(0, "Node:", spec.nodeName ? `${spec.nodeName}/${status.hostIP || ""}` : NONE);
  w.line(0, "Start Time:", date(status.startTime));
  multi(w, 0, "Labels", mapText(meta.labels));
  multi(w, 0, "Annotations", mapText(meta.annotations));
  w.line(0, "Status:", meta.deletionTimestamp ? "Terminating" : status.phase || "");
  if (status.reason) w.line(0, "Reason:", status.reason);
  if (status.message) w.line(0, "Message:", status.message);
  w.line(0, "IP:", status.podIP || "");
  w.line(0, "IPs:", (status.podIPs || []).length ? "" : NONE);
  for (const ip of status.podIPs || []) w.line(1, "IP:", ip.ip);
  containers(w, "Init Containers", spec.initContainers, status.initContainerStatuses);
  containers(w, "Containers", spec.containers, status.containerStatuses);
  w.line(0, "Conditions:");
  w.line(1, "Type", "Status");
  for (const c of status.conditions || []) w.line(1, c.type, c.status);
  w.line(0, "Volumes:", (spec.volumes || []).length ? "" : NONE);
  for (const v of spec.volumes || []) {
    w.line(1, `${v.name}:`);
    const kind = Object.keys(v).find((k) => k !== "name") || "";
    w.line(2, "Type:", VOLUME_TYPES[kind] || kind);
  }
  w.line(0, "QoS Class:", status.qosClass || "");
  w.line(0, "Node-Selectors:", mapText(spec.nodeSelector).join(","));
  const tolerations = (spec.tolerations || []).map((t) =>
    `${t.key || ""}${t.value ? `=${t.value}` : ""}:${t.effect || ""}${t.operator === "Exists" ? " op=Exists" : ""}${t.tolerationSeconds != null ? ` for ${t.tolerationSeconds}s` : ""}`);
  multi(w, 0, "Tolerations", tolerations.length ? tolerations : [NONE]);
  let text = w.text();
  const rows = eventRows(events, now);
  if (!rows.length) return `${text}\nEvents:                      ${NONE}`;
  const header = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]];
  const all = [...header, ...rows];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...all.map((r) => r[i].length)));
  text += "\nEvents:\n";
  text += all.map((r) => `  ${r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i] + 2) : cell)).join("")}`.trimEnd()).join("\n");
  return text;
}
