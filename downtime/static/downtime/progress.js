// Follows the final set of packs without reloading the page: a reload
// would wipe what IT is typing in the forms below it.
(function () {
  "use strict";
  var section = document.getElementById("final-set");
  if (!section) { return; }
  var url = section.getAttribute("data-progress");
  var summary = section.querySelector(".final-summary");

  function show(data) {
    data.packs.forEach(function (pack) {
      var row = section.querySelector('tr[data-pack="' + pack.id + '"]');
      if (!row) { return; }
      var status = row.querySelector("td.status");
      status.className = "status " + pack.status;
      status.textContent = pack.status_label + (pack.error ? " " + pack.error : "");
      row.querySelector("td.as-of").textContent = pack.as_of || "-";
      row.querySelector("td.generated").textContent = pack.generated_at || "-";
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (data) {
        show(data);
        summary.innerHTML = data.summary;  // rendered and escaped by the server
        if (!data.complete) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }

  if (!summary.querySelector(".fresh")) { window.setTimeout(poll, 2000); }
}());
