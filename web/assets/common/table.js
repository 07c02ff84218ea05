// A sortable, searchable table. Columns: {key, title, value(row), render(row)?, num?}.
// Sorting is by clicking (or Enter/Space on) a header; the search box matches any column.

import { el } from "/static/common/format.js";

export class DataTable {
  constructor({ id, columns, empty = "Nothing to show", rowKey = null, initialSort = null,
    signature = (row) => JSON.stringify(row) }) {
    this.columns = columns;
    // Rows whose signatures did not change are not rendered again (a refresh of thousands
    // of unchanged rows costs no DOM work).
    this.signature = signature;
    this.lastSignature = null;
    this.emptyText = empty;
    this.rowKey = rowKey;
    this.rows = [];
    this.query = "";
    this.sort = initialSort ?? { key: columns[0].key, dir: 1 };
    this.search = el("input", {
      type: "search", placeholder: "Search", "aria-label": "Search",
      oninput: () => { this.query = this.search.value.trim().toLowerCase(); this.renderBody(); },
    });
    this.count = el("span", { class: "count" });
    this.thead = el("thead");
    this.tbody = el("tbody");
    this.table = el("table", { class: "data", id }, this.thead, this.tbody);
    this.root = el("div", {},
      el("div", { class: "toolbar" }, this.search, this.count),
      el("div", { class: "table-wrap" }, this.table));
    this.renderHead();
  }

  renderHead() {
    const tr = el("tr");
    for (const c of this.columns) {
      const sorted = this.sort.key === c.key;
      const th = el("th", {
        class: c.num ? "num" : null,
        scope: "col",
        "data-key": c.key,
        "aria-sort": sorted ? (this.sort.dir > 0 ? "ascending" : "descending") : "none",
      }, el("button", { type: "button", onclick: () => this.sortBy(c.key) }, c.title));
      tr.append(th);
    }
    this.thead.replaceChildren(tr);
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: 1 };
    this.renderHead();
    this.renderBody();
  }

  /** Replace the rows (keeps search and sort). */
  setRows(rows) {
    const sig = rows.map(this.signature).join("\n");
    if (sig === this.lastSignature) return;
    this.lastSignature = sig;
    this.rows = rows;
    this.renderBody();
  }

  visibleRows() {
    const col = this.columns.find((c) => c.key === this.sort.key) ?? this.columns[0];
    const q = this.query;
    const rows = q
      ? this.rows.filter((r) => this.columns.some((c) => String(c.value(r) ?? "").toLowerCase().includes(q)))
      : this.rows.slice();
    const dir = this.sort.dir;
    rows.sort((a, b) => {
      const x = col.value(a), y = col.value(b);
      if (typeof x === "number" && typeof y === "number") return dir * (x - y);
      return dir * String(x ?? "").localeCompare(String(y ?? ""), undefined, { numeric: true });
    });
    return rows;
  }

  renderBody() {
    const rows = this.visibleRows();
    this.count.textContent = rows.length === this.rows.length
      ? `${rows.length} ${rows.length === 1 ? "row" : "rows"}`
      : `${rows.length} of ${this.rows.length} rows`;
    if (rows.length === 0) {
      this.tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: this.columns.length }, this.emptyText)));
      return;
    }
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = el("tr", { "data-key": this.rowKey ? this.rowKey(r) : null });
      for (const c of this.columns) {
        const content = c.render ? c.render(r) : c.value(r);
        tr.append(el("td", { class: c.num ? "num" : c.wrap ? "wrap" : null, "data-key": c.key }, content ?? ""));
      }
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
  }
}
