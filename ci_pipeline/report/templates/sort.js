// Sortable barometer: turns each column heading of table.barometer into a button that sorts the district
// rows (not the Oslo reference row) by the column's data-sort values. Without this script the table is a
// plain table in district order.
(function () {
  document.querySelectorAll("table.barometer").forEach(function (table) {
    var body = table.querySelector("tbody.districts");
    var headers = table.querySelectorAll("thead tr.columns th");
    headers.forEach(function (th, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.title = th.getAttribute("data-sort-label") || "";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
          var nx = parseFloat(x), ny = parseFloat(y);
          var numX = x !== null && x !== "" && !isNaN(nx), numY = y !== null && y !== "" && !isNaN(ny);
          if (numX && numY) { return ascending ? nx - ny : ny - nx; }
          if (numX !== numY) { return numX ? -1 : 1; }  // rows without a figure stay last
          var order = (x || "").localeCompare(y || "", document.documentElement.lang);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
