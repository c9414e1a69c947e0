"use strict";
(function () {
  // Sortable tables: click a header; numbers sort as numbers.
  document.querySelectorAll("table.sortable th").forEach(function (header) {
    header.addEventListener("click", function () {
      var table = header.closest("table");
      var column = Array.prototype.indexOf.call(header.parentNode.children, header);
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var down = header.getAttribute("aria-sort") !== "descending";
      table.querySelectorAll("th").forEach(function (th) { th.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", down ? "descending" : "ascending");
      function key(row) {
        var cell = row.cells[column];
        var value = cell.getAttribute("data-value");
        return value !== null ? Number(value) : cell.textContent;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return down ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  // The map: a cell's counts on hover or click.
  var info = document.getElementById("cell-info");
  var names = ["pass", "does not map back", "no PTR", "transient"];
  function show(cell) {
    var counts = cell.getAttribute("data-counts").split(",");
    var text = cell.getAttribute("data-block") + ": ";
    text += counts.map(function (n, i) { return names[i] + " " + n; }).join(", ");
    text += "; " + cell.getAttribute("data-share") + " failing";
    text += "; generic PTR names " + cell.getAttribute("data-generic");
    info.textContent = text;
  }
  document.querySelectorAll("#v4map rect.cell").forEach(function (cell) {
    cell.addEventListener("mouseenter", function () { show(cell); });
    cell.addEventListener("click", function () { show(cell); });
  });
})();
