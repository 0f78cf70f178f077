"""The access policy of every route: pages (by URL name) and API operations (by operation id).

Every URL pattern and every API operation must be declared here (RELIABILITY A12, §6.3): the
endpoint inventory test (``tests/security/test_inventory.py``) walks Django's URL resolver and
the OpenAPI schema and fails on any route without a policy, so a new page or operation cannot
ship unclassified. A policy is one of:

``"public"``
    reachable without logging in: log in, sign-up, password reset, the public lead web form,
    the language switch and JavaScript catalogue, the API documentation and schema. (Static
    files are served by WhiteNoise before URL routing and are public too.)
``"authenticated"``
    any logged-in member of an organisation: home, search, notifications, own account.
``"<module>:<action>"``
    the user needs a role granting it (``crm.org.permissions``), e.g. ``"customers:view"``.
    The tests check that a user holding every other permission but this one is refused (403,
    or 404 on a page about one record), and that anonymous users are sent to log in.

``OBJECTS`` names the model whose id a route takes in its path. The cross-tenant and
cross-scope matrix (``tests/security/test_matrix.py``) requests each of these routes with the
id of a record the caller may not see and expects a 404 with nothing changed; a route that
takes an id must say which model it is.

A new module adds its routes to these dictionaries in the same change as its URLs and router.
"""

from __future__ import annotations

from typing import Final

PUBLIC: Final = "public"
AUTHENTICATED: Final = "authenticated"

# --- Pages (URL names) -------------------------------------------------------------------------
PAGES: dict[str, str] = {
    # core
    "core:home": AUTHENTICATED,
    "core:search": AUTHENTICATED,
    "core:notifications": AUTHENTICATED,
    "core:notifications_read_all": AUTHENTICATED,
    "core:notification_open": AUTHENTICATED,
    "core:audit_trail": "audit:view",
    "core:jobs": "settings:configure",
    # sign-in, sign-up and the own account
    "org:login": PUBLIC,
    "org:login_verify": PUBLIC,
    "org:logout": PUBLIC,
    "org:signup": PUBLIC,
    "org:password_reset": PUBLIC,
    "org:password_reset_sent": PUBLIC,
    "org:password_reset_confirm": PUBLIC,
    "org:account": AUTHENTICATED,
    "org:password_change": AUTHENTICATED,
    "org:totp_setup": AUTHENTICATED,
    "org:totp_disable": AUTHENTICATED,
    "org:token_list": AUTHENTICATED,
    "org:token_revoke": AUTHENTICATED,
    # organisation settings
    "org:organization": "settings:configure",
    "org:department_list": "settings:configure",
    "org:department_create": "settings:configure",
    "org:department_detail": "settings:configure",
    "org:department_edit": "settings:configure",
    "org:department_move": "settings:configure",
    "org:user_list": "settings:configure",
    "org:user_create": "settings:configure",
    "org:user_detail": "settings:configure",
    "org:user_edit": "settings:configure",
    "org:user_deactivate": "settings:configure",
    "org:user_reactivate": "settings:configure",
    "org:role_list": "settings:configure",
    "org:role_create": "settings:configure",
    "org:role_detail": "settings:configure",
    "org:role_edit": "settings:configure",
    "org:role_copy": "settings:configure",
    "org:role_delete": "settings:configure",
    # customers
    "customers:list": "customers:view",
    "customers:bulk": "customers:view",
    "customers:create": "customers:create",
    "customers:check_duplicates": "customers:view",
    "customers:pick": "customers:view",
    "customers:merge": "customers:delete",
    "customers:detail": "customers:view",
    "customers:edit": "customers:edit",
    "customers:transfer": "customers:transfer",
    "customers:release": "customers:edit",
    "customers:claim": "customers:view",
    "customers:assign": "customers:transfer",
    "customers:contact_create": "customers:edit",
    "customers:contact_list": "customers:view",
    "customers:contact_edit": "customers:edit",
    "customers:contact_delete": "customers:delete",
    "customers:pool_list": "customers:view",
    "customers:pool_create": "customers:configure",
    "customers:pool_detail": "customers:view",
    "customers:pool_edit": "customers:configure",
    # leads
    "leads:lead_list": "leads:view",
    "leads:my_leads": "leads:view",
    "leads:total_pool": "leads:configure",
    "leads:lead_create": "leads:create",
    "leads:bulk": "leads:view",
    "leads:lead_detail": "leads:view",
    "leads:lead_edit": "leads:view",
    "leads:lead_convert": "leads:view",
    "leads:lead_action": "leads:view",
    "leads:pool_list": "leads:view",
    "leads:pool_create": "leads:configure",
    "leads:pool_leads": "leads:view",
    "leads:pool_edit": "leads:configure",
    "leads:pool_members": "leads:view",
    "leads:pool_form_token": "leads:configure",
    "leads:webforms": "leads:configure",
    "leads:rule_list": "leads:configure",
    "leads:rule_create": "leads:configure",
    "leads:rule_edit": "leads:configure",
    "leads:rule_delete": "leads:configure",
    "leads:webform": PUBLIC,
    # pipelines, stages and dictionaries (settings; organisation administrators may too)
    "pipeline:pipeline_list": "opportunities:configure",
    "pipeline:pipeline_create": "opportunities:configure",
    "pipeline:pipeline_detail": "opportunities:configure",
    "pipeline:pipeline_edit": "opportunities:configure",
    "pipeline:pipeline_copy": "opportunities:configure",
    "pipeline:stage_create": "opportunities:configure",
    "pipeline:stage_edit": "opportunities:configure",
    "pipeline:stage_move": "opportunities:configure",
    "pipeline:stage_retire": "opportunities:configure",
    "pipeline:stage_restore": "opportunities:configure",
    "pipeline:stage_delete": "opportunities:configure",
    "pipeline:dictionary_list": "opportunities:configure",
    "pipeline:dictionary_edit": "opportunities:configure",
    "pipeline:dictionary_move": "opportunities:configure",
    "pipeline:dictionary_deactivate": "opportunities:configure",
    "pipeline:dictionary_reactivate": "opportunities:configure",
    # language, translations in JavaScript, API documentation
    "set_language": PUBLIC,
    "javascript-catalog": PUBLIC,
    "api:openapi-json": PUBLIC,
    "api:openapi-view": PUBLIC,
    "api:api-root": PUBLIC,
}

# --- API operations (OpenAPI operation ids) ----------------------------------------------------
# Lists answer an empty page to a user without the permission (the scoped query layer), single
# records 404, and writes 403 (or 404 when the record is out of sight).
API: dict[str, str] = {
    # org
    "crm_org_api_me": AUTHENTICATED,
    "crm_org_api_organization": AUTHENTICATED,
    "crm_org_api_update_organization": "settings:configure",
    "crm_org_api_permission_vocabulary": AUTHENTICATED,
    "crm_org_api_list_departments": AUTHENTICATED,
    "crm_org_api_create_department": "settings:configure",
    "crm_org_api_get_department": AUTHENTICATED,
    "crm_org_api_update_department": "settings:configure",
    "crm_org_api_move_department": "settings:configure",
    "crm_org_api_list_users": AUTHENTICATED,
    "crm_org_api_create_user": "settings:configure",
    "crm_org_api_get_user": AUTHENTICATED,
    "crm_org_api_update_user": "settings:configure",
    "crm_org_api_deactivate_user": "settings:configure",
    "crm_org_api_reactivate_user": "settings:configure",
    "crm_org_api_list_roles": AUTHENTICATED,
    "crm_org_api_create_role": "settings:configure",
    "crm_org_api_get_role": AUTHENTICATED,
    "crm_org_api_update_role": "settings:configure",
    "crm_org_api_delete_role": "settings:configure",
    "crm_org_api_copy_role": "settings:configure",
    "crm_org_api_list_tokens": AUTHENTICATED,
    "crm_org_api_create_token": AUTHENTICATED,
    "crm_org_api_revoke_token": AUTHENTICATED,
    # core
    "crm_core_api_routes_list_events": "audit:view",
    "crm_core_api_routes_list_notifications": AUTHENTICATED,
    "crm_core_api_routes_read_notification": AUTHENTICATED,
    "crm_core_api_routes_read_all_notifications": AUTHENTICATED,
    "crm_core_api_routes_list_jobs": "settings:configure",
    # customers
    "crm_customers_api_list_customers": "customers:view",
    "crm_customers_api_create_customer": "customers:create",
    "crm_customers_api_check_duplicates": "customers:view",
    "crm_customers_api_transfer_many": "customers:transfer",
    "crm_customers_api_tag_many": "customers:edit",
    "crm_customers_api_get_customer": "customers:view",
    "crm_customers_api_update_customer": "customers:edit",
    "crm_customers_api_transfer": "customers:transfer",
    "crm_customers_api_claim": "customers:edit",
    "crm_customers_api_release": "customers:edit",
    "crm_customers_api_assign": "customers:transfer",
    "crm_customers_api_merge": "customers:delete",
    "crm_customers_api_set_collaborators": "customers:edit",
    "crm_customers_api_customer_history": "customers:view",
    "crm_customers_api_create_contact": "customers:edit",
    "crm_customers_api_list_contacts": "customers:view",
    "crm_customers_api_get_contact": "customers:view",
    "crm_customers_api_update_contact": "customers:edit",
    "crm_customers_api_delete_contact": "customers:delete",
    "crm_customers_api_list_pools": "customers:view",
    "crm_customers_api_create_pool": "customers:configure",
    "crm_customers_api_get_pool": "customers:view",
    "crm_customers_api_update_pool": "customers:configure",
    "crm_customers_api_pool_customers": "customers:view",
    "crm_customers_api_list_tags": "customers:view",
    "crm_customers_api_create_tag": "customers:edit",
    # leads
    "crm_leads_api_list_leads": "leads:view",
    "crm_leads_api_create_lead": "leads:create",
    "crm_leads_api_bulk_distribute": "leads:configure",
    "crm_leads_api_bulk_assign": "leads:edit",
    "crm_leads_api_bulk_invalid": "leads:edit",
    "crm_leads_api_bulk_apply_rules": "leads:configure",
    "crm_leads_api_get_lead": "leads:view",
    "crm_leads_api_update_lead": "leads:edit",
    "crm_leads_api_delete_lead": "leads:delete",
    "crm_leads_api_claim_lead": "leads:edit",
    "crm_leads_api_release_lead": "leads:edit",
    "crm_leads_api_assign_lead": "leads:edit",
    "crm_leads_api_mark_contacted": "leads:edit",
    "crm_leads_api_mark_qualified": "leads:edit",
    "crm_leads_api_mark_invalid": "leads:edit",
    "crm_leads_api_reopen_lead": "leads:edit",
    "crm_leads_api_lead_duplicates": "leads:view",
    "crm_leads_api_convert_lead": "leads:edit",
    "crm_leads_api_list_pools": "leads:view",
    "crm_leads_api_create_pool": "leads:configure",
    "crm_leads_api_get_pool": "leads:view",
    "crm_leads_api_update_pool": "leads:configure",
    "crm_leads_api_set_pool_members": "leads:edit",
    "crm_leads_api_regenerate_form_token": "leads:configure",
    "crm_leads_api_list_rules": "leads:configure",
    "crm_leads_api_create_rule": "leads:configure",
    "crm_leads_api_get_rule": "leads:configure",
    "crm_leads_api_update_rule": "leads:configure",
    "crm_leads_api_delete_rule": "leads:configure",
    # pipeline
    "crm_pipeline_api_list_pipelines": "opportunities:view",
    "crm_pipeline_api_create_pipeline": "opportunities:configure",
    "crm_pipeline_api_get_pipeline": "opportunities:view",
    "crm_pipeline_api_update_pipeline": "opportunities:configure",
    "crm_pipeline_api_copy_pipeline": "opportunities:configure",
    "crm_pipeline_api_list_stages": "opportunities:view",
    "crm_pipeline_api_create_stage": "opportunities:configure",
    "crm_pipeline_api_reorder_stages": "opportunities:configure",
    "crm_pipeline_api_get_stage": "opportunities:view",
    "crm_pipeline_api_update_stage": "opportunities:configure",
    "crm_pipeline_api_retire_stage": "opportunities:configure",
    "crm_pipeline_api_restore_stage": "opportunities:configure",
    "crm_pipeline_api_delete_stage": "opportunities:configure",
    "crm_pipeline_api_list_dictionaries": AUTHENTICATED,
    "crm_pipeline_api_list_dictionary_items": AUTHENTICATED,
    "crm_pipeline_api_create_dictionary_item": "opportunities:configure",
    "crm_pipeline_api_reorder_dictionary": "opportunities:configure",
    "crm_pipeline_api_update_dictionary_item": "opportunities:configure",
}

# --- Which record a path id names (URL name or operation id -> "app_label.Model") ----------------
OBJECTS: dict[str, str] = {
    "core:notification_open": "core.Notification",
    "org:token_revoke": "org.ApiToken",
    "org:department_detail": "org.Department",
    "org:department_edit": "org.Department",
    "org:department_move": "org.Department",
    "org:user_detail": "org.User",
    "org:user_edit": "org.User",
    "org:user_deactivate": "org.User",
    "org:user_reactivate": "org.User",
    "org:role_detail": "org.Role",
    "org:role_edit": "org.Role",
    "org:role_copy": "org.Role",
    "org:role_delete": "org.Role",
    "customers:detail": "customers.Customer",
    "customers:edit": "customers.Customer",
    "customers:transfer": "customers.Customer",
    "customers:release": "customers.Customer",
    "customers:claim": "customers.Customer",
    "customers:assign": "customers.Customer",
    "customers:contact_create": "customers.Customer",
    "customers:contact_edit": "customers.Contact",
    "customers:contact_delete": "customers.Contact",
    "customers:pool_detail": "customers.PublicPool",
    "customers:pool_edit": "customers.PublicPool",
    "leads:lead_detail": "leads.Lead",
    "leads:lead_edit": "leads.Lead",
    "leads:lead_convert": "leads.Lead",
    "leads:lead_action": "leads.Lead",
    "leads:pool_leads": "leads.LeadPool",
    "leads:pool_edit": "leads.LeadPool",
    "leads:pool_members": "leads.LeadPool",
    "leads:pool_form_token": "leads.LeadPool",
    "leads:rule_edit": "leads.AssignmentRule",
    "leads:rule_delete": "leads.AssignmentRule",
    "crm_org_api_get_department": "org.Department",
    "crm_org_api_update_department": "org.Department",
    "crm_org_api_move_department": "org.Department",
    "crm_org_api_get_user": "org.User",
    "crm_org_api_update_user": "org.User",
    "crm_org_api_deactivate_user": "org.User",
    "crm_org_api_reactivate_user": "org.User",
    "crm_org_api_get_role": "org.Role",
    "crm_org_api_update_role": "org.Role",
    "crm_org_api_delete_role": "org.Role",
    "crm_org_api_copy_role": "org.Role",
    "crm_org_api_revoke_token": "org.ApiToken",
    "crm_core_api_routes_read_notification": "core.Notification",
    "crm_customers_api_get_customer": "customers.Customer",
    "crm_customers_api_update_customer": "customers.Customer",
    "crm_customers_api_transfer": "customers.Customer",
    "crm_customers_api_claim": "customers.Customer",
    "crm_customers_api_release": "customers.Customer",
    "crm_customers_api_assign": "customers.Customer",
    "crm_customers_api_merge": "customers.Customer",
    "crm_customers_api_set_collaborators": "customers.Customer",
    "crm_customers_api_customer_history": "customers.Customer",
    "crm_customers_api_create_contact": "customers.Customer",
    "crm_customers_api_get_contact": "customers.Contact",
    "crm_customers_api_update_contact": "customers.Contact",
    "crm_customers_api_delete_contact": "customers.Contact",
    "crm_customers_api_get_pool": "customers.PublicPool",
    "crm_customers_api_update_pool": "customers.PublicPool",
    "crm_customers_api_pool_customers": "customers.PublicPool",
    "crm_leads_api_get_lead": "leads.Lead",
    "crm_leads_api_update_lead": "leads.Lead",
    "crm_leads_api_delete_lead": "leads.Lead",
    "crm_leads_api_claim_lead": "leads.Lead",
    "crm_leads_api_release_lead": "leads.Lead",
    "crm_leads_api_assign_lead": "leads.Lead",
    "crm_leads_api_mark_contacted": "leads.Lead",
    "crm_leads_api_mark_qualified": "leads.Lead",
    "crm_leads_api_mark_invalid": "leads.Lead",
    "crm_leads_api_reopen_lead": "leads.Lead",
    "crm_leads_api_lead_duplicates": "leads.Lead",
    "crm_leads_api_convert_lead": "leads.Lead",
    "crm_leads_api_get_pool": "leads.LeadPool",
    "crm_leads_api_update_pool": "leads.LeadPool",
    "crm_leads_api_set_pool_members": "leads.LeadPool",
    "crm_leads_api_regenerate_form_token": "leads.LeadPool",
    "crm_leads_api_get_rule": "leads.AssignmentRule",
    "crm_leads_api_update_rule": "leads.AssignmentRule",
    "crm_leads_api_delete_rule": "leads.AssignmentRule",
    "pipeline:pipeline_detail": "pipeline.Pipeline",
    "pipeline:pipeline_edit": "pipeline.Pipeline",
    "pipeline:pipeline_copy": "pipeline.Pipeline",
    "pipeline:stage_create": "pipeline.Pipeline",
    "pipeline:stage_edit": "pipeline.Stage",
    "pipeline:stage_move": "pipeline.Stage",
    "pipeline:stage_retire": "pipeline.Stage",
    "pipeline:stage_restore": "pipeline.Stage",
    "pipeline:stage_delete": "pipeline.Stage",
    "pipeline:dictionary_edit": "pipeline.DictionaryItem",
    "pipeline:dictionary_move": "pipeline.DictionaryItem",
    "pipeline:dictionary_deactivate": "pipeline.DictionaryItem",
    "pipeline:dictionary_reactivate": "pipeline.DictionaryItem",
    "crm_pipeline_api_get_pipeline": "pipeline.Pipeline",
    "crm_pipeline_api_update_pipeline": "pipeline.Pipeline",
    "crm_pipeline_api_copy_pipeline": "pipeline.Pipeline",
    "crm_pipeline_api_list_stages": "pipeline.Pipeline",
    "crm_pipeline_api_create_stage": "pipeline.Pipeline",
    "crm_pipeline_api_reorder_stages": "pipeline.Pipeline",
    "crm_pipeline_api_get_stage": "pipeline.Stage",
    "crm_pipeline_api_update_stage": "pipeline.Stage",
    "crm_pipeline_api_retire_stage": "pipeline.Stage",
    "crm_pipeline_api_restore_stage": "pipeline.Stage",
    "crm_pipeline_api_delete_stage": "pipeline.Stage",
    "crm_pipeline_api_update_dictionary_item": "pipeline.DictionaryItem",
}

# --- Documented exceptions to the page-wide protections ------------------------------------------
#: Pages without CSRF protection: the public lead web form is posted from other sites by people
#: without a session; a signed, time-limited stamp (crm.leads.webform) replaces the token.
CSRF_EXEMPT: frozenset[str] = frozenset({"leads:webform"})
#: Pages that other sites may frame (X-Frame-Options and frame-ancestors relaxed).
FRAMEABLE: frozenset[str] = frozenset({"leads:webform"})


def policy(route: str) -> str:
    """The declared policy of a URL name or API operation id (KeyError if undeclared)."""
    if route in PAGES:
        return PAGES[route]
    return API[route]


def permission(route: str) -> tuple[str, str] | None:
    """``(module, action)`` the route requires, or None for public and authenticated routes."""
    value = policy(route)
    if value in (PUBLIC, AUTHENTICATED):
        return None
    module, _sep, action = value.partition(":")
    return module, action
