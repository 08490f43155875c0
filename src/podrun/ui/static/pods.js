// The pods page: `kubectl get pods` in a namespace, from the API's Table output, kept current by a watch.

import { TABLE, element, getJSON, runPage, setConnection, watch } from "./api.js";
import { renderHead, renderRow, shownColumns } from "./table.js";

// How often the rows are redrawn between watch events, so that AGE keeps counting.
const AGE_TICK_MS = 1000;
const namespace = new URLSearchParams(location.search).get("namespace") || "default";

async function namespaces() {
  const select = document.getElementById("namespace");
  const list = await getJSON("/api/v1/namespaces");
  const names = list.items.map((ns) => ns.metadata.name).sort();
  if (!names.includes(namespace)) names.push(namespace);
  select.replaceChildren(...names.map((name) => element("option", { value: name, text: name })));
  select.value = namespace;
  select.addEventListener("change", () => { location.search = `?namespace=${encodeURIComponent(select.value)}`; });
}

function podLink(name) {
  return `/ui/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
}

runPage(async () => {
  await namespaces();
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  const table = await getJSON(path, TABLE);
  const columns = shownColumns(table);
  const rows = new Map(table.rows.map((row) => [row.object.metadata.uid, row]));
  const tbody = document.querySelector("#pods tbody");
  renderHead(document.querySelector("#pods thead"), columns);
  document.getElementById("empty").textContent = `No resources found in ${namespace} namespace.`;

  const render = () => {
    const sorted = [...rows.values()].sort((a, b) => a.object.metadata.name.localeCompare(b.object.metadata.name));
    tbody.replaceChildren(...sorted.map((row) => renderRow(columns, row, podLink)));
    document.getElementById("empty").hidden = rows.size > 0;
    document.getElementById("pods").hidden = rows.size === 0;
  };
  render();
  setInterval(render, AGE_TICK_MS);
  setConnection("live", true);
  await watch(path, table.metadata.resourceVersion, (event) => {
    for (const row of event.object.rows || []) {
      if (event.type === "DELETED") rows.delete(row.object.metadata.uid);
      else rows.set(row.object.metadata.uid, row);
    }
    render();
  }, { accept: TABLE });
});
