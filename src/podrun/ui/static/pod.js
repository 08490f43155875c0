// The pod page: its `kubectl get pods` row, the lifecycle timeline as it happens, `describe`, Events and one
// container's log followed live. Four streams at most (pod, events, lifecycle, the selected container's log),
// under the browsers' six connections per host, whatever the number of containers.

import { TABLE, element, getJSON, getText, runPage, setConnection, stream, streamLines, watch } from "./api.js";
import { describePod, eventRows } from "./describe.js";
import { renderHead, renderRow, shownColumns } from "./table.js";

const [, , , namespace, , name] = location.pathname.split("/").map(decodeURIComponent);
const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
const podPath = `${base}/pods/${encodeURIComponent(name)}`;
// How often the chart is redrawn while something runs, so running bars grow.
const REDRAW_MS = 1000;

let pod = null;
let events = [];

function tabs() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tabs button")) other.classList.toggle("active", other === button);
      for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== `tab-${button.dataset.tab}`;
    });
  }
}

function describe() {
  if (pod) document.getElementById("describe").textContent = describePod(pod, events);
  document.querySelector("#events tbody").replaceChildren(
    ...eventRows(events).map((cells) => element("tr", {}, ...cells.map((text) => element("td", { text })))));
}

// The pod's row and object, from a watch of its name as a Table that includes the object.
async function followPod(onPod) {
  const selector = `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}&includeObject=Object`;
  const path = `${base}/pods?${selector}`;
  const table = await getJSON(path, TABLE);
  const columns = shownColumns(table);
  renderHead(document.querySelector("#pod-row thead"), columns);
  let current = null;
  const draw = () => {
    document.querySelector("#pod-row tbody").replaceChildren(...(current ? [renderRow(columns, current)] : []));
  };
  const show = (row, deleted) => {
    current = row;
    draw();
    document.getElementById("gone").hidden = !deleted;
    if (row) onPod(row.object);
  };
  setInterval(draw, REDRAW_MS);
  show(table.rows[0], table.rows.length === 0);
  await watch(path, table.metadata.resourceVersion, (event) => {
    show(event.type === "DELETED" ? null : event.object.rows[0], event.type === "DELETED");
  }, { accept: TABLE });
}

async function followEvents() {
  const selector = `fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`;
  const path = `${base}/events?${selector}`;
  const list = await getJSON(path);
  events = list.items;
  describe();
  await watch(path, list.metadata.resourceVersion, (event) => {
    events = events.filter((e) => e.metadata.uid !== event.object.metadata.uid);
    if (event.type !== "DELETED") events.push(event.object);
    events.sort((a, b) => (a.lastTimestamp || a.eventTime || "").localeCompare(b.lastTimestamp || b.eventTime || ""));
    describe();
  });
}

// The chart is drawn by the server (podrun's timeline renderer); each new record redraws it.
function timeline() {
  let drawing = false, again = false;
  const draw = async () => {
    if (drawing) { again = true; return; }
    drawing = true;
    try {
      const path = `/ui/data/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/timeline.svg`;
      document.getElementById("timeline").innerHTML = await getText(path);
    } catch (error) {
      if (error.status !== 404) throw error;
    } finally {
      drawing = false;
    }
    if (again) { again = false; draw(); }
  };
  const tbody = document.querySelector("#records tbody");
  const records = streamLines(`${podPath}/lifecycle?watch=true`, (record) => {
    const details = Object.entries(record).filter(([k]) => !["time", "container", "run", "type"].includes(k))
      .map(([k, v]) => `${k}=${v}`).join(", ");
    const cells = [record.time, record.container || "", String(record.run ?? 0), record.type, details];
    tbody.append(element("tr", { "data-type": record.type }, ...cells.map((text) => element("td", { text }))));
    draw();
  });
  const ticker = setInterval(() => {
    const phase = pod?.status?.phase;
    if (!document.hidden && (phase === "Pending" || phase === "Running")) draw();
  }, REDRAW_MS);
  draw();
  return records.finally(() => clearInterval(ticker));
}

// Follows the selected container's log; a new run of it (restart) continues below a marker.
function logs() {
  const box = document.getElementById("containers");
  const pre = document.getElementById("log");
  let selected = null, shownId = null, controller = null;

  const statusOf = (c) => [...(pod.status?.initContainerStatuses || []), ...(pod.status?.containerStatuses || [])]
    .find((s) => s.name === c);

  // The current run's log, followed; while the container waits to restart (back-off), its last run's log.
  const start = () => {
    const status = statusOf(selected);
    if (!status) return;
    const ran = status.state?.running || status.state?.terminated;
    const id = ran ? status.containerID : status.lastState?.terminated?.containerID;
    if (!id || id === shownId) return;
    if (shownId) {
      pre.append(element("span", { class: "restart", text: `--- ${selected}: restart ${status.restartCount} ---\n` }));
    }
    shownId = id;
    controller?.abort();
    controller = new AbortController();
    // While it waits, the API's log is its last terminated run's, as the kubelet serves it (not followed: it ended).
    const path = `${podPath}/log?container=${encodeURIComponent(selected)}${ran ? "&follow=true" : ""}`;
    stream(path, (chunk) => {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(chunk);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }, { signal: controller.signal }).catch((error) => {
      if (error.name !== "AbortError") pre.append(element("span", { class: "restart", text: `(${error.message})\n` }));
    });
  };

  const select = (container) => {
    controller?.abort();
    controller = null;
    selected = container;
    shownId = null;
    pre.replaceChildren();
    for (const b of box.children) b.classList.toggle("selected", b.dataset.container === container);
    start();
  };

  return (current) => {
    const names = [...(current.spec.initContainers || []), ...current.spec.containers].map((c) => c.name);
    if (box.dataset.names !== names.join(",")) {
      box.dataset.names = names.join(",");
      box.replaceChildren(...names.map((c) => {
        const button = element("button", { type: "button", "data-container": c, text: c });
        button.addEventListener("click", () => select(c));
        return button;
      }));
      const app = current.spec.containers[0].name;
      select(selected && names.includes(selected) ? selected : app);
    } else {
      start();
    }
  };
}

runPage(async () => {
  document.getElementById("title").textContent = `Pod ${namespace}/${name}`;
  document.title = `${name} · podrun`;
  tabs();
  const onLogs = logs();
  const first = followPod((object) => {
    pod = object;
    describe();
    onLogs(object);
  });
  setConnection("live", true);
  await Promise.all([first, followEvents(), timeline()]);
});
