// Site-wide behaviour (no inline scripts: the content security policy forbids them).
document.addEventListener("DOMContentLoaded", () => {
  // Language and other selects that submit their form on change.
  document.querySelectorAll("select[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.submit());
  });
  // Confirm dangerous actions: <button data-confirm="Are you sure?">.
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (ev) => {
      if (!window.confirm(el.dataset.confirm)) ev.preventDefault();
    });
  });
});
// htmx sends the CSRF token with every unsafe request.
document.addEventListener("htmx:configRequest", (ev) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) ev.detail.headers["X-CSRFToken"] = meta.content;
});
