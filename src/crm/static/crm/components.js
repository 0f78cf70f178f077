// Site-wide Alpine components (SECURITY B6). The CRM loads Alpine's CSP build, which cannot
// evaluate arbitrary JavaScript in attributes: templates only name a component
// (x-data="copyField") and refer to its properties and methods (x-show="copied",
// x-on:click="copy"). The logic lives here, in a file the content security policy allows.
// Loaded with "defer" before Alpine, so the components are registered on "alpine:init".
(function () {
  "use strict";

  // A read-only input with a copy button (API tokens, webhook secrets): x-ref="value".
  function copyField() {
    return {
      copied: false,
      copy() {
        const input = this.$refs.value;
        if (!input) return;
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(input.value).catch(() => {});
        } else {
          input.select();
        }
        this.copied = true;
      },
      get notCopied() {
        return !this.copied;
      },
    };
  }

  // Check boxes that select rows for a bulk action. data-boxes="<CSS selector of the row boxes>"
  // on the component's element; the "check all" box calls toggleAll, each row box count.
  function checkSelect() {
    return {
      checked: 0,
      boxes() {
        const selector = this.$root.dataset.boxes || "input[name=ids]";
        return Array.from(document.querySelectorAll(selector));
      },
      count() {
        this.checked = this.boxes().filter((el) => el.checked).length;
      },
      toggleAll(ev) {
        const on = Boolean(ev && ev.target && ev.target.checked);
        this.boxes().forEach((el) => {
          el.checked = on;
        });
        this.count();
      },
      get none() {
        return this.checked === 0;
      },
      get some() {
        return this.checked > 0;
      },
    };
  }

  // The lead list's bulk form: which extra fields the chosen action needs.
  function leadBulk() {
    return {
      action: "",
      get isDistribute() {
        return this.action === "distribute";
      },
      get isAssign() {
        return this.action === "assign";
      },
      get isInvalid() {
        return this.action === "invalid";
      },
      toggleAll(ev) {
        const on = Boolean(ev && ev.target && ev.target.checked);
        this.$root.querySelectorAll("input[name=ids]").forEach((el) => {
          el.checked = on;
        });
      },
    };
  }

  // The role form: the department picker shows for the "custom" data scope only.
  // data-scope (current value) and data-custom (the custom scope's value) on the element.
  function roleScope() {
    return {
      scope: "",
      custom: "",
      init() {
        this.scope = this.$el.dataset.scope || "";
        this.custom = this.$el.dataset.custom || "";
      },
      get isCustom() {
        return this.scope === this.custom;
      },
    };
  }

  // The follow-up form: the visit fields show for visits and meetings. data-method on the element.
  function followupMethod() {
    return {
      method: "",
      init() {
        this.method = this.$el.dataset.method || "";
      },
      get isVisit() {
        return this.method === "visit" || this.method === "meeting";
      },
    };
  }

  // A comment that can be edited in place.
  function commentEdit() {
    return {
      editing: false,
      edit() {
        this.editing = true;
      },
      cancel() {
        this.editing = false;
      },
      get reading() {
        return !this.editing;
      },
    };
  }

  document.addEventListener("alpine:init", () => {
    const Alpine = window.Alpine;
    Alpine.data("copyField", copyField);
    Alpine.data("checkSelect", checkSelect);
    Alpine.data("leadBulk", leadBulk);
    Alpine.data("roleScope", roleScope);
    Alpine.data("followupMethod", followupMethod);
    Alpine.data("commentEdit", commentEdit);
  });
})();
