// A meta.k8s.io Table as kubectl prints it: the columns of priority 0 (kubectl hides the others without -o wide),
// their names in capitals, the cells as the server printed them.

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
    const text = String(row.cells[column.index] ?? "");
    if (column.name === "Name" && link) return element("td", {}, element("a", { href: link(name), text }));
    return element("td", { text, "data-column": column.name.toLowerCase() });
  });
  return element("tr", { "data-name": name }, ...cells);
}
