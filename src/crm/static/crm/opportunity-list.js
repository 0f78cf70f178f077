// The opportunity list (R4.6): the condition builder and the check-to-transfer bar.
// Loaded before Alpine starts (no "defer"), so the components are registered on "alpine:init".
// The builder reads the fields, their operators and values from <script id="query-fields"
// type="application/json"> and the current conditions from #query-conditions; it writes the
// conditions as JSON into the form's hidden "cond" field (the server validates everything).
(function () {
  "use strict";

  function readJson(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return null;
    }
  }

  let seq = 0;
  const EMPTY_OPS = ["empty", "not_empty"];
  const CHOICE_TYPES = ["choice", "dictionary", "user", "ref", "bool"];

  function conditionBuilder() {
    return {
      fields: [],
      match: "all",
      rules: [],
      groups: [],

      init() {
        this.fields = readJson("query-fields") || [];
        const current = readJson("query-conditions") || {};
        this.match = current.match === "any" ? "any" : "all";
        this.rules = this.loadRules(current.rules);
        this.groups = (Array.isArray(current.groups) ? current.groups : [])
          .map((g) => ({ id: ++seq, match: g.match === "any" ? "any" : "all", rules: this.loadRules(g.rules) }))
          .filter((g) => g.rules.length > 0);
      },

      field(key) {
        return this.fields.find((f) => f.key === key) || null;
      },

      loadRules(list) {
        return (Array.isArray(list) ? list : [])
          .filter((r) => r && this.field(r.field))
          .map((r) => {
            const rule = this.blank(r.field);
            const f = this.field(r.field);
            rule.op = f.ops.some((o) => o.key === r.op) ? r.op : f.ops[0].key;
            if (rule.op === "between" && Array.isArray(r.value)) {
              rule.value = r.value[0] == null ? "" : String(r.value[0]);
              rule.value2 = r.value[1] == null ? "" : String(r.value[1]);
            } else if (rule.op === "in" && Array.isArray(r.value)) {
              rule.values = r.value.map((v) => String(v));
            } else if (r.value != null) {
              rule.value = String(r.value);
            }
            return rule;
          });
      },

      blank(key) {
        const f = this.field(key) || this.fields[0];
        const rule = { id: ++seq, field: f ? f.key : "", op: f ? f.ops[0].key : "eq", value: "", value2: "", values: [] };
        this.resetValue(rule);
        return rule;
      },

      resetValue(rule) {
        const opts = this.optionsOf(rule);
        rule.value = this.inputOf(rule) === "select" && opts.length ? String(opts[0][0]) : "";
        rule.value2 = "";
        rule.values = [];
      },

      addRule(list) {
        list.push(this.blank(this.fields.length ? this.fields[0].key : ""));
      },

      removeRule(list, rule) {
        const i = list.indexOf(rule);
        if (i >= 0) list.splice(i, 1);
        this.groups = this.groups.filter((g) => g.rules.length > 0);
      },

      addGroup() {
        const group = { id: ++seq, match: "any", rules: [] };
        this.addRule(group.rules);
        this.addRule(group.rules);
        this.groups.push(group);
      },

      removeGroup(group) {
        this.groups = this.groups.filter((g) => g !== group);
      },

      fieldChanged(rule) {
        const f = this.field(rule.field);
        rule.op = f ? f.ops[0].key : "eq";
        this.resetValue(rule);
      },

      opChanged(rule) {
        this.resetValue(rule);
      },

      opsOf(rule) {
        const f = this.field(rule.field);
        return f ? f.ops : [];
      },

      optionsOf(rule) {
        const f = this.field(rule.field);
        return f ? f.options : [];
      },

      // Which input the value needs: none, select, multi, text, number, date, days, between.
      inputOf(rule) {
        const f = this.field(rule.field);
        if (!f || EMPTY_OPS.includes(rule.op)) return "none";
        if (rule.op === "last_days" || rule.op === "next_days") return "days";
        if (rule.op === "in") return "multi";
        if (rule.op === "between") return "between";
        if (CHOICE_TYPES.includes(f.type)) return "select";
        if (f.type === "number" || f.type === "money") return "number";
        if (f.type === "date" || f.type === "datetime") return "date";
        return "text";
      },

      htmlType(rule) {
        const f = this.field(rule.field);
        if (!f) return "text";
        if (rule.op === "last_days" || rule.op === "next_days") return "number";
        if (f.type === "number" || f.type === "money") return "number";
        if (f.type === "date" || f.type === "datetime") return "date";
        return "text";
      },

      stepOf(rule) {
        const f = this.field(rule.field);
        if (f && f.type === "money") return "0.01";
        return "1";
      },

      // A picked option's original value (numbers stay numbers, true/false stay booleans).
      typed(rule, value) {
        const opt = this.optionsOf(rule).find((o) => String(o[0]) === String(value));
        return opt ? opt[0] : value;
      },

      serialise(rule) {
        const out = { field: rule.field, op: rule.op, value: null };
        if (EMPTY_OPS.includes(rule.op)) return out;
        if (rule.op === "between") out.value = [this.typed(rule, rule.value), this.typed(rule, rule.value2)];
        else if (rule.op === "in") out.value = rule.values.map((v) => this.typed(rule, v));
        else out.value = this.typed(rule, rule.value);
        return out;
      },

      get empty() {
        return this.rules.length === 0 && this.groups.length === 0;
      },

      // Helpers for the templates: Alpine's CSP build evaluates property and method references
      // only, so every comparison the markup needs is a method here.
      get filled() {
        return !this.empty;
      },

      get several() {
        return this.rules.length + this.groups.length > 1;
      },

      needs(rule, input) {
        return this.inputOf(rule) === input;
      },

      needsSingle(rule) {
        return ["text", "number", "date", "days"].includes(this.inputOf(rule));
      },

      minOf(rule) {
        return this.inputOf(rule) === "days" ? 1 : null;
      },

      placeholderOf(rule) {
        return this.inputOf(rule) === "days" ? "7" : "";
      },

      optKey(opt) {
        return String(opt[0]);
      },

      isChosen(rule, opt) {
        return String(opt[0]) === String(rule.value);
      },

      isPicked(rule, opt) {
        return rule.values.includes(String(opt[0]));
      },

      get json() {
        const data = { match: this.match, rules: this.rules.map((r) => this.serialise(r)) };
        const groups = this.groups
          .filter((g) => g.rules.length > 0)
          .map((g) => ({ match: g.match, rules: g.rules.map((r) => this.serialise(r)) }));
        if (groups.length) data.groups = groups;
        return JSON.stringify(data);
      },
    };
  }

  function bulkSelect() {
    return {
      checked: 0,
      boxes() {
        return Array.from(document.querySelectorAll("#opportunity-table input[name=ids]"));
      },
      count() {
        this.checked = this.boxes().filter((el) => el.checked).length;
      },
      toggleAll(ev) {
        this.boxes().forEach((el) => {
          el.checked = ev.target.checked;
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

  document.addEventListener("alpine:init", () => {
    window.Alpine.data("conditionBuilder", conditionBuilder);
    window.Alpine.data("bulkSelect", bulkSelect);
  });
})();
