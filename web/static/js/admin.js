// Admins: staff roles, the establishments clinicians and keyworkers serve, verified email,
// departments and their members, and the table of what each role may do.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const state = { staff: [], establishments: [], departments: [] };
const MULTI = ["clinician", "keyworker"];

function roleName(role) {
  return t(`role.${role}`);
}

function departmentName(d) {
  const key = `department.${d.code}`;
  const known = t(key);
  return d.built_in && known !== key ? known : d.name;
}

function status(text) {
  document.getElementById("admin-status").textContent = text;
}

function establishmentCode(id) {
  const found = state.establishments.find((e) => e.id === id);
  return found ? found.code : "";
}

function renderStaff() {
  const rows = document.getElementById("staff-rows");
  const names = new Map();
  for (const d of state.departments) names.set(d.id, departmentName(d));
  rows.replaceChildren(
    ...state.staff.map((m) =>
      el(
        "tr",
        { "data-staff": m.id },
        el("td", { text: m.display_name }),
        el("td", { text: m.username || "" }),
        el("td", { text: roleName(m.role) }),
        el("td", { text: m.serves.map(establishmentCode).join(", ") }),
        el("td", { text: m.departments.map((id) => names.get(id) || "").filter(Boolean).join(", ") }),
        el("td", { text: m.email || t("admin.email_none") }),
      ),
    ),
  );
  for (const select of document.querySelectorAll("select.staff-choice")) {
    const chosen = select.value;
    select.replaceChildren(
      ...state.staff.map((m) =>
        el("option", { value: m.id, selected: m.id === chosen, text: `${m.display_name} (${roleName(m.role)})` }),
      ),
    );
  }
  renderServes();
}

function renderServes() {
  const chosen = state.staff.find((m) => m.id === document.getElementById("serves-staff").value);
  const box = document.getElementById("serves-choices");
  box.replaceChildren(
    ...state.establishments
      .filter((e) => !chosen || e.id !== chosen.establishment_id)
      .map((e) =>
        el(
          "div",
          { class: "check" },
          el("input", {
            type: "checkbox",
            id: `serves-${e.id}`,
            value: e.id,
            checked: Boolean(chosen && chosen.serves.includes(e.id)),
          }),
          el("label", { for: `serves-${e.id}`, text: `${e.name} (${e.code})` }),
        ),
      ),
  );
}

function renderDepartments() {
  const list = document.getElementById("department-list");
  const people = new Map(state.staff.map((m) => [m.id, m.display_name]));
  list.replaceChildren(
    ...state.departments.map((d) =>
      el(
        "li",
        { "data-department": d.code },
        el("strong", { text: departmentName(d) }),
        " ",
        d.members.length
          ? d.members.map((id) => people.get(id) || "").join(", ")
          : t("admin.no_members"),
      ),
    ),
  );
  const select = document.getElementById("member-department");
  select.replaceChildren(...state.departments.map((d) => el("option", { value: d.id, text: departmentName(d) })));
}

async function loadStaff() {
  state.staff = await api("GET", "/api/staff");
  renderStaff();
}

async function loadDepartments() {
  const est = document.getElementById("department-establishment").value;
  state.departments = est ? await api("GET", `/api/establishments/${est}/departments`) : [];
  renderDepartments();
  renderStaff();
}

async function loadRoles() {
  const table = await api("GET", "/api/roles");
  document.getElementById("role-rows").replaceChildren(
    ...Object.entries(table.roles).map(([role, permissions]) =>
      el(
        "tr",
        { "data-role": role },
        el("th", { scope: "row", text: roleName(role) }),
        el("td", {}, ...permissions.flatMap((p, i) => [i ? ", " : "", el("code", { text: p })])),
      ),
    ),
  );
}

function onSubmit(formId, errorId, action) {
  const form = document.getElementById(formId);
  const error = document.getElementById(errorId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    try {
      await action(form);
    } catch (failure) {
      showError(error, failure);
    }
  });
}

function setupForms() {
  onSubmit("role-form", "role-error", async (form) => {
    const member = await api("PUT", `/api/staff/${form.account_id.value}/role`, { role: form.role.value });
    await loadStaff();
    status(t("admin.role_changed", { name: member.display_name, role: roleName(member.role) }));
  });
  document.getElementById("serves-staff").addEventListener("change", renderServes);
  onSubmit("serves-form", "serves-error", async (form) => {
    const ids = [...document.querySelectorAll("#serves-choices input:checked")].map((i) => i.value);
    const member = await api("PUT", `/api/staff/${form.account_id.value}/establishments`, {
      establishment_ids: ids,
    });
    await loadStaff();
    status(t("admin.serves_saved", { name: member.display_name }));
  });
  onSubmit("email-form", "email-error", async (form) => {
    const email = form.email.value.trim();
    await api("POST", `/api/staff/${form.account_id.value}/email`, { email });
    status(t("admin.link_sent", { email }));
    form.email.value = "";
  });
  document.getElementById("department-establishment").addEventListener("change", () => {
    loadDepartments().catch((failure) => flash(errorText(failure)));
  });
  onSubmit("department-form", "department-error", async (form) => {
    const est = document.getElementById("department-establishment").value;
    const added = await api("POST", `/api/establishments/${est}/departments`, {
      code: form.code.value.trim(),
      name: form.name.value.trim(),
    });
    form.reset();
    await loadDepartments();
    status(t("admin.department_added", { name: added.name }));
  });
  onSubmit("member-form", "member-error", async (form) => {
    const dept = state.departments.find((d) => d.id === form.department_id.value);
    const members = [...new Set([...dept.members, form.account_id.value])];
    await api("PUT", `/api/departments/${dept.id}/members`, { account_ids: members });
    await loadStaff();
    await loadDepartments();
    status(t("admin.member_added", { department: departmentName(dept) }));
  });
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  setupForms();
  account = await staffGate(["admin"]);
  if (account) {
    show("screen-admin");
    state.establishments = await api("GET", "/api/establishments");
    document.getElementById("department-establishment").replaceChildren(
      ...state.establishments.map((e) => el("option", { value: e.id, text: `${e.name} (${e.code})` })),
    );
    await Promise.all([loadStaff(), loadRoles()]);
    await loadDepartments();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
