// The report builder (templates/analytics/report_builder.html): changing the subject reloads
// the builder with that subject's dimensions, measures and filters; any other change asks the
// server for a new preview (htmx, see the form's hx-get); analytics.js draws the preview's
// chart and wires its table toggle when htmx puts it in place.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("report-builder");
    if (!form) return;
    const subject = form.querySelector("[data-subject]");
    if (subject) {
      subject.addEventListener("change", function (event) {
        event.stopPropagation(); // no preview of the old subject's fields
        const url = new URL(form.getAttribute("data-builder-url"), window.location.href);
        url.searchParams.set("subject", subject.value);
        window.location.href = url.toString();
      });
    }
  });
})();
