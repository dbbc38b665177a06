// goalkeeper dashboard: sortable tables and a "use my time zone" button. Nothing else.
"use strict";
(function () {
  function sortTable(table, column, numeric, descending) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (row) => row.cells[column].dataset.value || "";
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return descending ? -order : order;
    });
    rows.forEach((row) => body.appendChild(row));
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("th[data-sort]").forEach((th, column) => {
      th.tabIndex = 0;
      const activate = () => {
        const descending = th.getAttribute("aria-sort") !== "descending";
        table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortTable(table, column, th.dataset.sort === "num", descending);
      };
      th.addEventListener("click", activate);
      th.addEventListener("keydown", (event) => { if (event.key === "Enter") activate(); });
    });
  });
  const button = document.getElementById("my-zone");
  const form = document.getElementById("range");
  if (button && form && window.Intl) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && zone !== form.elements.tz.value) {
      button.hidden = false;
      button.textContent = "Use my time zone (" + zone + ")";
      button.addEventListener("click", () => { form.elements.tz.value = zone; form.submit(); });
    }
  }
})();
