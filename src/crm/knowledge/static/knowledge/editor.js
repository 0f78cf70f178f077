/* The article editor (H-KB): a contenteditable area with a small toolbar over the plain
   textarea that is posted. Without JavaScript the textarea is edited directly. The server
   sanitises whatever is posted, so this script only needs to be convenient, not safe. */
(function () {
  "use strict";

  function init(form) {
    var source = form.querySelector("[data-kb-source]");
    var editor = form.querySelector("[data-kb-editor]");
    var toolbar = form.querySelector("[data-kb-toolbar]");
    if (!source || !editor || !toolbar || typeof document.execCommand !== "function") return;
    editor.innerHTML = source.value;
    source.classList.add("d-none");
    editor.classList.remove("d-none");
    toolbar.classList.remove("d-none");
    var sync = function () { source.value = editor.innerHTML; };
    editor.addEventListener("input", sync);
    editor.addEventListener("blur", sync);
    form.addEventListener("submit", sync);
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("[data-cmd]");
      if (!button) return;
      event.preventDefault();
      editor.focus();
      var cmd = button.getAttribute("data-cmd");
      var arg = button.getAttribute("data-arg");
      if (cmd === "createLink") {
        arg = window.prompt(button.getAttribute("data-prompt") || "URL", "https://");
        if (!arg || !/^(https?:|mailto:|tel:|\/)/i.test(arg)) return;
      }
      document.execCommand(cmd, false, arg || null);
      sync();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#article-form").forEach(init);
  });
})();
