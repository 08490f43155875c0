// A meta.k8s.io Table as kubectl prints it: the columns of priority 0 (kubectl hides the others without -o wide),
// their names in capitals, the cells as the server printed them, except AGE, which is counted from the object's
// creation here, so that it keeps counting between watch events, as a `kubectl get` run now would print it.

import { element } from "./api.js";

export function shownColumns(table) {
  return table.columnDefinitions.map((column, index) => ({ ...column, index })).filter((c) => !c.priority);
}

export function renderHead(thead, columns) {
  thead.replaceChildren(element("tr", {}, ...columns.map((c) => element("th", { text: c.name.toUpperCase() }))));
}

// One <tr data-name=NAME>; `link(name)` makes the name cell a link.
export function renderRow(columns, row, link) {
  const name = row.object.metadata.name;
  const cells = columns.map((column) => {
    const created = row.object.metadata.creationTimestamp;
    const text = column.name === "Age" && created ? age(created) : String(row.cells[column.index] ?? "");
    if (column.name === "Name" && link) return element("td", {}, element("a", { href: link(name), text }));
    return element("td", { text, "data-column": column.name.toLowerCase() });
  });
  return element("tr", { "data-name": name }, ...cells);
}

// Go's duration.HumanDuration, as kubectl prints ages: "45s", "3m20s", "5h", "2d3h", "3y10d".
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "<unknown>";
  const seconds = Math.floor((now - Date.parse(timestamp)) / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const unit = (major, a, minor, b) => (minor ? `${major}${a}${minor}${b}` : `${major}${a}`);
  if (minutes < 10) return unit(minutes, "m", seconds % 60, "s");
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return unit(hours, "h", minutes % 60, "m");
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return unit(Math.floor(hours / 24), "d", hours % 24, "h");
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) return unit(Math.floor(hours / 24 / 365), "y", Math.floor(hours / 24) % 365, "d");
  return `${Math.floor(hours / 24 / 365)}y`;
}
