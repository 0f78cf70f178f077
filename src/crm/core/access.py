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
    "customers:sections": "customers:view",
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
    # opportunities: list, saved queries, board (H-LIST)
    "opportunities:list": "opportunities:view",
    "opportunities:bulk_transfer": "opportunities:transfer",
    "opportunities:query_save": "opportunities:view",
    "opportunities:query_edit": "opportunities:view",
    "opportunities:query_delete": "opportunities:view",
    "opportunities:board": "opportunities:view",
    "opportunities:board_move": "opportunities:edit",
    # opportunities: pages and actions (H-PAGES)
    "opportunities:create": "opportunities:create",
    "opportunities:detail": "opportunities:view",
    "opportunities:sections": "opportunities:view",
    "opportunities:edit": "opportunities:edit",
    "opportunities:move": "opportunities:edit",
    "opportunities:win": "opportunities:edit",
    "opportunities:lose": "opportunities:edit",
    "opportunities:abandon": "opportunities:edit",
    "opportunities:pause": "opportunities:edit",
    "opportunities:resume": "opportunities:edit",
    "opportunities:reopen": "opportunities:approve",
    "opportunities:key": "opportunities:edit",
    "opportunities:transfer": "opportunities:transfer",
    "opportunities:delete": "opportunities:delete",
    # follow-ups, visit plans, my day, reminders (H-ACT)
    "activities:my_day": "activities:view",
    "activities:followup_list": "activities:view",
    "activities:followup_create": "activities:create",
    "activities:followup_links": "activities:create",
    "activities:followup_edit": "activities:edit",
    "activities:followup_delete": "activities:delete",
    "activities:plan_calendar": "activities:view",
    "activities:plan_create": "activities:create",
    "activities:plan_analysis": "activities:view",
    "activities:plan_edit": "activities:edit",
    "activities:plan_status": "activities:edit",
    "activities:reminder_list": "activities:view",
    "activities:reminder_done": "activities:view",
    "activities:rule_list": "activities:configure",
    "activities:rule_create": "activities:configure",
    "activities:rule_edit": "activities:configure",
    "activities:rule_delete": "activities:configure",
    # comments and attachments (H-COLLAB)
    "collab:comment_add": AUTHENTICATED,  # the record's own view right is checked (404)
    "collab:comment_edit": AUTHENTICATED,
    "collab:comment_delete": AUTHENTICATED,
    "collab:mention_users": AUTHENTICATED,
    "collab:attachment_add": AUTHENTICATED,  # edit right on the record
    "collab:attachment_download": AUTHENTICATED,
    "collab:attachment_delete": AUTHENTICATED,
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
    # import wizard and list exports (H-IMPORT): a job is its uploader's only (404 for anyone
    # else); the resource's own permission (customers:create…) is checked by the pages
    "imports:list": AUTHENTICATED,
    "imports:template": AUTHENTICATED,
    "imports:mapping_delete": AUTHENTICATED,
    "imports:detail": AUTHENTICATED,
    "imports:map": AUTHENTICATED,
    "imports:preview": AUTHENTICATED,
    "imports:run": AUTHENTICATED,
    "imports:status": AUTHENTICATED,
    "imports:errors": AUTHENTICATED,
    "imports:resume": AUTHENTICATED,
    "imports:cancel": AUTHENTICATED,
    "imports:export_customers": "customers:export",
    "imports:export_opportunities": "opportunities:export",
    "imports:export_leads": "leads:export",
    # sales: contracts, orders, returns, approvals and approval flows (H-CONTRACTS)
    "sales:contract_list": "sales:view",
    "sales:contract_create": "sales:create",
    "sales:contract_detail": "sales:view",
    "sales:contract_edit": "sales:edit",
    "sales:contract_submit": "sales:edit",
    "sales:contract_withdraw": "sales:edit",
    "sales:contract_sign": "sales:edit",
    "sales:contract_start": "sales:edit",
    "sales:contract_complete": "sales:edit",
    "sales:contract_terminate": "sales:edit",
    "sales:contract_amend": "sales:edit",
    "sales:amendment_withdraw": "sales:edit",
    "sales:order_list": "sales:view",
    "sales:order_create": "sales:create",
    "sales:order_detail": "sales:view",
    "sales:order_status": "sales:edit",
    "sales:return_list": "sales:view",
    "sales:return_create": "sales:create",
    "sales:return_detail": "sales:view",
    "sales:return_edit": "sales:edit",
    "sales:return_submit": "sales:edit",
    "sales:return_withdraw": "sales:edit",
    "sales:return_refund": "finance:edit",
    # the approvals of a request are decided by the people its flow names (the request's own
    # scope: its submitter and approvers; anyone else gets 404)
    "sales:approval_inbox": AUTHENTICATED,
    "sales:approval_detail": AUTHENTICATED,
    "sales:approval_approve": AUTHENTICATED,
    "sales:approval_reject": AUTHENTICATED,
    "sales:approval_withdraw": AUTHENTICATED,
    "sales:flow_list": "sales:configure",
    "sales:flow_create": "sales:configure",
    "sales:flow_edit": "sales:configure",
    "sales:flow_toggle": "sales:configure",
    "sales:flow_move": "sales:configure",
    "sales:step_create": "sales:configure",
    "sales:step_edit": "sales:configure",
    "sales:step_delete": "sales:configure",
    "sales:step_move": "sales:configure",
    # finance: receivables, receipts, write-offs, invoices, collection board (H-FINANCE); plan
    # editing needs sales:edit on the contract or finance:edit, invoice requests finance:create
    # or sales:edit on the contract, cancelling an issued invoice finance:edit (checked inside)
    "finance:collection_board": "finance:view",
    "finance:analysis": "finance:view",
    "finance:plan_list": "finance:view",
    "finance:plan_edit": "sales:view",
    "finance:writeoff_create": "finance:create",
    "finance:receipt_list": "finance:view",
    "finance:receipt_create": "finance:create",
    "finance:receipt_detail": "finance:view",
    "finance:receipt_void": "finance:edit",
    "finance:invoice_list": "finance:view",
    "finance:invoice_create": "finance:view",
    "finance:invoice_detail": "finance:view",
    "finance:invoice_issue": "finance:edit",
    "finance:invoice_mail": "finance:edit",
    "finance:invoice_cancel": "finance:view",
    # sales: products, price lists, quotes, quote and contract documents, Word templates (H-QUOTES)
    "sales:product_list": "sales:view",
    "sales:product_create": "sales:configure",  # or settings:configure
    "sales:product_edit": "sales:configure",
    "sales:product_delete": "sales:configure",
    "sales:pricelist_list": "sales:view",
    "sales:pricelist_create": "sales:configure",
    "sales:pricelist_edit": "sales:configure",
    "sales:quote_list": "sales:view",
    "sales:quote_create": "sales:create",
    "sales:quote_preview": "sales:view",
    "sales:quote_detail": "sales:view",
    "sales:quote_edit": "sales:edit",
    "sales:quote_send": "sales:edit",
    "sales:quote_withdraw": "sales:edit",
    "sales:quote_accept": "sales:edit",
    "sales:quote_reject": "sales:edit",
    "sales:quote_revise": "sales:edit",
    "sales:quote_delete": "sales:delete",
    "sales:quote_print": "sales:view",
    "sales:quote_docx": "sales:view",
    "sales:contract_print": "sales:view",
    "sales:contract_docx": "sales:view",
    "sales:template_list": "sales:configure",
    "sales:template_sample": "sales:configure",
    "sales:template_download": "sales:configure",
    "sales:template_delete": "sales:configure",
    # >>> H-DASH
    "analytics:dashboard": "analytics:view",
    "analytics:key_customers": "analytics:view",
    "analytics:stages_by_rep": "analytics:view",
    "analytics:behaviour": "analytics:view",
    "analytics:targets": "analytics:view",
    # <<< H-DASH
    # >>> H-FORECAST
    # funnel and forecast (R8.4, R8.5): adjusting needs analytics:configure or
    # opportunities:approve and the rep in scope, checked by the service
    "analytics:funnel": "analytics:view",
    "analytics:forecast": "analytics:view",
    "analytics:forecast_commit": "analytics:view",
    "analytics:forecast_adjust": "analytics:view",
    # <<< H-FORECAST
    # >>> H-REPORTS
    # custom reports and their schedules (R8.8); the export (?export=report) checks
    # analytics:export in the view, and only a report's owner edits or deletes it (403)
    "analytics:reports": "analytics:view",
    "analytics:report_builder": "analytics:view",
    "analytics:report_preview": "analytics:view",
    "analytics:report_detail": "analytics:view",
    "analytics:report_edit": "analytics:view",
    "analytics:report_delete": "analytics:view",
    "analytics:report_schedule": "analytics:view",
    "analytics:schedule_edit": "analytics:view",
    "analytics:schedule_delete": "analytics:view",
    "analytics:delivery_detail": "analytics:view",
    # <<< H-REPORTS
    # >>> H-HOOKS
    # webhooks (issue 7, R10.2): administrators only
    "webhooks:list": "settings:configure",
    "webhooks:create": "settings:configure",
    "webhooks:edit": "settings:configure",
    "webhooks:delete": "settings:configure",
    "webhooks:rotate": "settings:configure",
    "webhooks:deliveries": "settings:configure",
    "webhooks:redeliver": "settings:configure",
    # <<< H-HOOKS
    # >>> H-SVC
    # customer service (R3.7): tickets, return visits, analysis; SLA settings for admins
    # (settings:configure)
    "service:ticket_list": "service:view",
    "service:ticket_create": "service:create",
    "service:ticket_detail": "service:view",
    "service:ticket_edit": "service:edit",
    "service:ticket_status": "service:edit",
    "service:ticket_transfer": "service:transfer",
    "service:ticket_delete": "service:delete",
    "service:visit_list": "service:view",
    "service:visit_complete": "service:edit",
    # visit-plan: return visits planned by hand and rescheduled
    "service:visit_create": "service:create",
    "service:visit_reschedule": "service:edit",
    "service:visit_cancel": "service:edit",
    "service:analysis": "service:view",
    "service:settings": "settings:configure",
    # <<< H-SVC
    # >>> H-KB
    # knowledge base (R9.4): drafts are their author's and the editors' in scope (404 else)
    "knowledge:list": "knowledge:view",
    "knowledge:create": "knowledge:create",
    "knowledge:detail": "knowledge:view",
    "knowledge:edit": "knowledge:edit",
    "knowledge:status": "knowledge:edit",
    "knowledge:delete": "knowledge:delete",
    "knowledge:case_create": "knowledge:create",
    # kb-categories: the organisation's article categories
    "knowledge:categories": "knowledge:configure",
    "knowledge:category_edit": "knowledge:configure",
    "knowledge:category_move": "knowledge:configure",
    "knowledge:category_active": "knowledge:configure",
    "knowledge:category_delete": "knowledge:configure",
    # <<< H-KB
    # >>> H-CF
    # custom fields (issue 7, R10.5): administrators define them
    "customfields:list": "settings:configure",
    "customfields:create": "settings:configure",
    "customfields:edit": "settings:configure",
    "customfields:retire": "settings:configure",
    "customfields:restore": "settings:configure",
    "customfields:move": "settings:configure",
    # <<< H-CF
    # >>> H-CAMP
    # marketing campaigns (R9.3): organisation-wide for marketing:view; the campaign form link
    # is public (its token is the credential) and redirects to the pool's web form
    "marketing:list": "marketing:view",
    "marketing:compare": "marketing:view",
    "marketing:create": "marketing:create",
    "marketing:detail": "marketing:view",
    "marketing:edit": "marketing:edit",
    "marketing:status": "marketing:edit",
    "marketing:form_token": "marketing:edit",
    "marketing:delete": "marketing:delete",
    "marketing:webform": PUBLIC,
    # <<< H-CAMP
    # >>> H-MAIL
    # e-mail campaigns (R9.3): marketing users compose and send; the unsubscribe list is for
    # marketing:configure; the unsubscribe page of every mail is public (signed token)
    "mailing:campaign_list": "marketing:view",
    "mailing:campaign_create": "marketing:create",
    "mailing:campaign_detail": "marketing:view",
    "mailing:campaign_edit": "marketing:edit",
    "mailing:campaign_send": "marketing:edit",
    "mailing:campaign_cancel": "marketing:edit",
    "mailing:campaign_delete": "marketing:delete",
    "mailing:unsubscribe_list": "marketing:configure",
    "mailing:unsubscribe": PUBLIC,
    "mailing:unsubscribe_remove": "marketing:configure",  # mailing-bounces
    # <<< H-MAIL
    # >>> H-LSCORE
    # lead scoring (R2.5): the rules are the lead configurers'; follow-ups follow the lead
    "leads:scoring_rules": "leads:configure",
    "leads:scoring_rule_create": "leads:configure",
    "leads:scoring_rule_edit": "leads:configure",
    "leads:scoring_rule_delete": "leads:configure",
    "leads:lead_followup": "leads:view",
    # <<< H-LSCORE
    # >>> H-WINP
    # learned win probability (R2.5): the model page for report readers, retraining for
    # analytics:configure; an opportunity's score follows the opportunity (API below)
    "scoring:model": "analytics:view",
    "scoring:retrain": "analytics:configure",
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
    # >>> H-MAVEN
    "analytics:winloss": "analytics:view",
    # <<< H-MAVEN
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
    # comments and attachments (H-COLLAB): the record named by ?target=&id= (or the comment's
    # or file's record) decides: view to read and comment, edit to attach files; else 404/403
    "crm_core_collab_api_list_comments": AUTHENTICATED,
    "crm_core_collab_api_add_comment": AUTHENTICATED,
    "crm_core_collab_api_edit_comment": AUTHENTICATED,
    "crm_core_collab_api_delete_comment": AUTHENTICATED,
    "crm_core_collab_api_list_attachments": AUTHENTICATED,
    "crm_core_collab_api_upload_attachment": AUTHENTICATED,
    "crm_core_collab_api_download_attachment": AUTHENTICATED,
    "crm_core_collab_api_delete_attachment": AUTHENTICATED,
    # customers
    "crm_customers_api_list_customers": "customers:view",
    "crm_customers_api_create_customer": "customers:create",
    "crm_customers_api_check_duplicates": "customers:view",
    "crm_customers_api_transfer_many": "customers:transfer",
    "crm_customers_api_tag_many": "customers:edit",
    "crm_customers_api_release_many": "customers:edit",  # api-gaps
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
    "crm_customers_api_caller_lookup": "customers:view",
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
    # opportunities and activities API (H-API)
    "crm_pipeline_opportunity_api_list_opportunities": "opportunities:view",
    "crm_pipeline_opportunity_api_create_opportunity": "opportunities:create",
    "crm_pipeline_opportunity_api_opportunity_counts": "opportunities:view",
    "crm_pipeline_opportunity_api_list_saved_queries": "opportunities:view",
    "crm_pipeline_opportunity_api_create_saved_query": "opportunities:view",
    "crm_pipeline_opportunity_api_get_saved_query": "opportunities:view",
    "crm_pipeline_opportunity_api_update_saved_query": "opportunities:view",
    "crm_pipeline_opportunity_api_delete_saved_query": "opportunities:view",
    "crm_pipeline_opportunity_api_get_opportunity": "opportunities:view",
    "crm_pipeline_opportunity_api_update_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_delete_opportunity": "opportunities:delete",
    "crm_pipeline_opportunity_api_move_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_win_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_lose_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_abandon_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_pause_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_resume_opportunity": "opportunities:edit",
    "crm_pipeline_opportunity_api_reopen_opportunity": "opportunities:approve",
    "crm_pipeline_opportunity_api_transfer_opportunity": "opportunities:transfer",
    "crm_pipeline_opportunity_api_bulk_transfer": "opportunities:transfer",  # api-gaps
    "crm_pipeline_opportunity_api_set_opportunity_collaborators": "opportunities:edit",
    "crm_pipeline_opportunity_api_opportunity_history": "opportunities:view",
    "crm_pipeline_opportunity_api_opportunity_lines": "opportunities:view",
    "crm_activities_api_list_followups": "activities:view",
    "crm_activities_api_create_followup": "activities:create",
    "crm_activities_api_get_followup": "activities:view",
    "crm_activities_api_update_followup": "activities:edit",
    "crm_activities_api_delete_followup": "activities:delete",
    "crm_activities_api_list_plans": "activities:view",
    "crm_activities_api_create_plan": "activities:create",
    "crm_activities_api_get_plan": "activities:view",
    "crm_activities_api_update_plan": "activities:edit",
    "crm_activities_api_set_plan_status": "activities:edit",
    "crm_activities_api_list_reminders": "activities:view",
    "crm_activities_api_reminder_done": "activities:view",
    "crm_activities_api_list_reminder_rules": "activities:configure",
    "crm_activities_api_create_reminder_rule": "activities:configure",
    "crm_activities_api_update_reminder_rule": "activities:configure",
    "crm_activities_api_delete_reminder_rule": "activities:configure",
    # imports (H-IMPORT): the uploader's own jobs; the resource's permission is checked inside
    "crm_imports_api_list_resources": AUTHENTICATED,
    "crm_imports_api_list_jobs": AUTHENTICATED,
    "crm_imports_api_create_job": AUTHENTICATED,
    "crm_imports_api_get_job": AUTHENTICATED,
    "crm_imports_api_update_job": AUTHENTICATED,
    "crm_imports_api_preview_job": AUTHENTICATED,
    "crm_imports_api_start_job": AUTHENTICATED,
    "crm_imports_api_resume_job": AUTHENTICATED,
    "crm_imports_api_cancel_job": AUTHENTICATED,
    "crm_imports_api_list_job_errors": AUTHENTICATED,
    "crm_imports_api_list_mappings": AUTHENTICATED,  # api-gaps
    "crm_imports_api_create_mapping": AUTHENTICATED,  # api-gaps
    "crm_imports_api_delete_mapping": AUTHENTICATED,  # api-gaps
    # sales: contracts, orders, returns, approvals (H-CONTRACTS); approvals are decided by the
    # people the flow names (the request's scope: submitter and approvers; else 404)
    "crm_sales_contract_api_list_approval_tasks": AUTHENTICATED,
    "crm_sales_contract_api_list_approval_requests": AUTHENTICATED,
    "crm_sales_contract_api_get_approval_request": AUTHENTICATED,
    "crm_sales_contract_api_approve_request": AUTHENTICATED,
    "crm_sales_contract_api_reject_request": AUTHENTICATED,
    "crm_sales_contract_api_withdraw_request": AUTHENTICATED,
    "crm_sales_contract_api_list_approval_flows": "sales:configure",  # api-gaps
    "crm_sales_contract_api_create_approval_flow": "sales:configure",  # api-gaps
    "crm_sales_contract_api_get_approval_flow": "sales:configure",  # api-gaps
    "crm_sales_contract_api_update_approval_flow": "sales:configure",  # api-gaps
    "crm_sales_contract_api_move_approval_flow": "sales:configure",  # api-gaps
    "crm_sales_contract_api_add_approval_step": "sales:configure",  # api-gaps
    "crm_sales_contract_api_update_approval_step": "sales:configure",  # api-gaps
    "crm_sales_contract_api_move_approval_step": "sales:configure",  # api-gaps
    "crm_sales_contract_api_delete_approval_step": "sales:configure",  # api-gaps
    "crm_sales_contract_api_list_orders": "sales:view",
    "crm_sales_contract_api_create_order": "sales:create",
    "crm_sales_contract_api_get_order": "sales:view",
    "crm_sales_contract_api_update_order": "sales:edit",
    "crm_sales_contract_api_list_returns": "sales:view",
    "crm_sales_contract_api_create_return": "sales:create",
    "crm_sales_contract_api_get_return": "sales:view",
    "crm_sales_contract_api_update_return": "sales:edit",
    "crm_sales_contract_api_submit_return": "sales:edit",
    "crm_sales_contract_api_withdraw_return": "sales:edit",
    "crm_sales_contract_api_refund_return": "finance:edit",
    "crm_sales_contract_api_list_contracts": "sales:view",
    "crm_sales_contract_api_create_contract": "sales:create",
    "crm_sales_contract_api_get_contract": "sales:view",
    "crm_sales_contract_api_update_contract": "sales:edit",
    "crm_sales_contract_api_submit_contract": "sales:edit",
    "crm_sales_contract_api_withdraw_contract": "sales:edit",
    "crm_sales_contract_api_sign_contract": "sales:edit",
    "crm_sales_contract_api_start_contract": "sales:edit",
    "crm_sales_contract_api_complete_contract": "sales:edit",
    "crm_sales_contract_api_terminate_contract": "sales:edit",
    "crm_sales_contract_api_amend_contract": "sales:edit",
    "crm_sales_contract_api_list_contract_amendments": "sales:view",
    "crm_sales_contract_api_contract_approvals": "sales:view",
    # finance (H-FINANCE): plans are read with their contract (sales scope); the rules of
    # editing plans, requesting and cancelling invoices are checked inside (see the pages)
    "crm_finance_api_list_plans": "sales:view",
    "crm_finance_api_get_plan": "sales:view",
    "crm_finance_api_replace_plans": "sales:view",
    "crm_finance_api_list_receipts": "finance:view",
    "crm_finance_api_create_receipt": "finance:create",
    "crm_finance_api_get_receipt": "finance:view",
    "crm_finance_api_void_receipt": "finance:edit",
    "crm_finance_api_list_write_offs": "finance:view",
    "crm_finance_api_create_write_off": "finance:create",
    "crm_finance_api_list_invoices": "finance:view",
    "crm_finance_api_create_invoice": "finance:view",
    "crm_finance_api_get_invoice": "finance:view",
    "crm_finance_api_issue_invoice": "finance:edit",
    "crm_finance_api_mail_invoice": "finance:edit",
    "crm_finance_api_cancel_invoice": "finance:view",
    "crm_finance_api_collection_summary": "finance:view",
    # sales: products, price lists, quotes (H-QUOTES); product writes: sales:configure or
    # settings:configure
    "crm_sales_quote_api_list_products": "sales:view",
    "crm_sales_quote_api_create_product": "sales:configure",
    "crm_sales_quote_api_get_product": "sales:view",
    "crm_sales_quote_api_update_product": "sales:configure",
    "crm_sales_quote_api_delete_product": "sales:configure",  # api-gaps
    "crm_sales_quote_api_create_price_list": "sales:configure",  # api-gaps
    "crm_sales_quote_api_update_price_list": "sales:configure",  # api-gaps
    "crm_sales_quote_api_list_price_lists": "sales:view",
    "crm_sales_quote_api_get_price_list": "sales:view",
    "crm_sales_quote_api_list_quotes": "sales:view",
    "crm_sales_quote_api_preview_quote": "sales:view",
    "crm_sales_quote_api_create_quote": "sales:create",
    "crm_sales_quote_api_get_quote": "sales:view",
    "crm_sales_quote_api_update_quote": "sales:edit",
    "crm_sales_quote_api_delete_quote": "sales:delete",
    "crm_sales_quote_api_send_quote": "sales:edit",
    "crm_sales_quote_api_accept_quote": "sales:edit",
    "crm_sales_quote_api_reject_quote": "sales:edit",
    "crm_sales_quote_api_revise_quote": "sales:edit",
    # >>> H-DASH
    "crm_analytics_dash_api_get_dashboard": "analytics:view",
    "crm_analytics_dash_api_list_key_customers": "analytics:view",
    "crm_analytics_dash_api_get_stages_by_rep": "analytics:view",
    "crm_analytics_dash_api_get_behaviour": "analytics:view",
    "crm_analytics_dash_api_list_targets": "analytics:view",
    "crm_analytics_dash_api_save_targets": "analytics:configure",
    # <<< H-DASH
    # >>> H-FORECAST
    "crm_analytics_forecast_api_funnel": "analytics:view",
    "crm_analytics_forecast_api_get_forecast": "analytics:view",
    "crm_analytics_forecast_api_commit": "analytics:view",
    "crm_analytics_forecast_api_adjust_commit": "analytics:view",
    "crm_analytics_forecast_api_accuracy": "analytics:view",
    "crm_analytics_forecast_api_get_backtest": "analytics:view",
    # <<< H-FORECAST
    # >>> H-REPORTS
    "crm_analytics_report_api_list_fields": "analytics:view",
    "crm_analytics_report_api_run_adhoc": "analytics:view",
    "crm_analytics_report_api_list_schedules": "analytics:view",
    "crm_analytics_report_api_create_schedule": "analytics:view",
    "crm_analytics_report_api_get_schedule": "analytics:view",
    "crm_analytics_report_api_update_schedule": "analytics:view",
    "crm_analytics_report_api_delete_schedule": "analytics:view",
    "crm_analytics_report_api_list_deliveries": "analytics:view",
    "crm_analytics_report_api_list_reports": "analytics:view",
    "crm_analytics_report_api_create_report": "analytics:view",
    "crm_analytics_report_api_get_report": "analytics:view",
    "crm_analytics_report_api_update_report": "analytics:view",
    "crm_analytics_report_api_delete_report": "analytics:view",
    "crm_analytics_report_api_run_report": "analytics:view",
    # <<< H-REPORTS
    # >>> H-HOOKS
    "crm_core_webhook_api_list_event_types": "settings:configure",
    "crm_core_webhook_api_list_endpoints": "settings:configure",
    "crm_core_webhook_api_create_webhook": "settings:configure",
    "crm_core_webhook_api_get_webhook": "settings:configure",
    "crm_core_webhook_api_update_webhook": "settings:configure",
    "crm_core_webhook_api_delete_webhook": "settings:configure",
    "crm_core_webhook_api_rotate_webhook_secret": "settings:configure",
    "crm_core_webhook_api_list_deliveries": "settings:configure",
    "crm_core_webhook_api_redeliver_delivery": "settings:configure",
    # <<< H-HOOKS
    # >>> H-SVC
    "crm_service_api_list_tickets": "service:view",
    "crm_service_api_create_ticket": "service:create",
    "crm_service_api_get_ticket": "service:view",
    "crm_service_api_update_ticket": "service:edit",
    "crm_service_api_delete_ticket": "service:delete",
    "crm_service_api_change_ticket_status": "service:edit",
    "crm_service_api_transfer_ticket": "service:transfer",
    "crm_service_api_list_visits": "service:view",
    "crm_service_api_complete_visit": "service:edit",
    # visit-plan
    "crm_service_api_create_visit": "service:create",
    "crm_service_api_reschedule_visit": "service:edit",
    # <<< H-SVC
    # >>> H-KB
    "crm_knowledge_api_list_articles": "knowledge:view",
    "crm_knowledge_api_create_article": "knowledge:create",
    "crm_knowledge_api_get_article": "knowledge:view",
    "crm_knowledge_api_update_article": "knowledge:edit",
    "crm_knowledge_api_set_article_status": "knowledge:edit",
    "crm_knowledge_api_delete_article": "knowledge:delete",
    "crm_knowledge_api_search_articles": "knowledge:view",
    "crm_knowledge_api_related_articles": "knowledge:view",
    "crm_knowledge_api_create_case_study": "knowledge:create",
    # kb-categories
    "crm_knowledge_api_list_categories": "knowledge:view",
    "crm_knowledge_api_create_category": "knowledge:configure",
    "crm_knowledge_api_update_category": "knowledge:configure",
    "crm_knowledge_api_delete_category": "knowledge:configure",
    # <<< H-KB
    # >>> H-CF
    # custom fields: every member reads the definitions (forms and clients need them)
    "crm_core_custom_field_api_list_custom_fields": AUTHENTICATED,
    "crm_core_custom_field_api_create_custom_field": "settings:configure",
    "crm_core_custom_field_api_reorder_custom_fields": "settings:configure",
    "crm_core_custom_field_api_get_custom_field": "settings:configure",
    "crm_core_custom_field_api_update_custom_field": "settings:configure",
    "crm_core_custom_field_api_retire_custom_field": "settings:configure",
    "crm_core_custom_field_api_restore_custom_field": "settings:configure",
    # <<< H-CF
    # >>> H-CAMP
    "crm_marketing_api_list_campaigns": "marketing:view",
    "crm_marketing_api_create_campaign": "marketing:create",
    "crm_marketing_api_list_attribution": "marketing:view",
    "crm_marketing_api_get_campaign": "marketing:view",
    "crm_marketing_api_get_attribution": "marketing:view",
    "crm_marketing_api_update_campaign": "marketing:edit",
    "crm_marketing_api_set_campaign_status": "marketing:edit",
    "crm_marketing_api_delete_campaign": "marketing:delete",
    "crm_marketing_api_regenerate_form_token": "marketing:edit",  # api-gaps
    # <<< H-CAMP
    # >>> H-MAIL
    "crm_mailing_api_list_email_campaigns": "marketing:view",
    "crm_mailing_api_create_email_campaign": "marketing:create",
    "crm_mailing_api_preview_segment": "marketing:create",
    "crm_mailing_api_get_email_campaign": "marketing:view",
    "crm_mailing_api_update_email_campaign": "marketing:edit",
    "crm_mailing_api_delete_email_campaign": "marketing:delete",
    "crm_mailing_api_send_email_campaign": "marketing:edit",
    "crm_mailing_api_cancel_email_campaign": "marketing:edit",
    "crm_mailing_api_list_email_recipients": "marketing:view",
    "crm_mailing_api_list_unsubscribes": "marketing:configure",
    "crm_mailing_api_add_unsubscribe": "marketing:configure",
    "crm_mailing_api_remove_unsubscribe": "marketing:configure",  # mailing-bounces
    "crm_mailing_api_report_bounces": "marketing:configure",  # mailing-bounces
    # <<< H-MAIL
    # >>> H-LSCORE
    # lead scoring (R2.5): admins define the rules; a lead's score follows the lead
    "crm_leads_scoring_api_list_scoring_rules": "leads:configure",
    "crm_leads_scoring_api_create_scoring_rule": "leads:configure",
    "crm_leads_scoring_api_get_scoring_rule": "leads:configure",
    "crm_leads_scoring_api_update_scoring_rule": "leads:configure",
    "crm_leads_scoring_api_delete_scoring_rule": "leads:configure",
    "crm_leads_scoring_api_preview_scoring_rule": "leads:configure",
    "crm_leads_scoring_api_get_lead_score": "leads:view",
    "crm_leads_scoring_api_log_lead_followup": "leads:edit",
    # <<< H-LSCORE
    # >>> H-WINP
    "crm_scoring_api_get_win_model": "analytics:view",
    "crm_scoring_api_retrain_win_model": "analytics:configure",
    "crm_scoring_api_get_win_score": "opportunities:view",
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
    # >>> H-MAVEN
    "crm_analytics_winloss_api_get_winloss": "analytics:view",
    # <<< H-MAVEN
}

# --- Which record a path id names (URL name or operation id -> "app_label.Model") ----------------
OBJECTS: dict[str, str] = {
    # opportunities: list, saved queries, board (H-LIST)
    "opportunities:query_edit": "pipeline.SavedQuery",
    "opportunities:query_delete": "pipeline.SavedQuery",
    # opportunities: pages and actions (H-PAGES)
    "opportunities:detail": "pipeline.Opportunity",
    "opportunities:sections": "pipeline.Opportunity",
    "opportunities:edit": "pipeline.Opportunity",
    "opportunities:move": "pipeline.Opportunity",
    "opportunities:win": "pipeline.Opportunity",
    "opportunities:lose": "pipeline.Opportunity",
    "opportunities:abandon": "pipeline.Opportunity",
    "opportunities:pause": "pipeline.Opportunity",
    "opportunities:resume": "pipeline.Opportunity",
    "opportunities:reopen": "pipeline.Opportunity",
    "opportunities:key": "pipeline.Opportunity",
    "opportunities:transfer": "pipeline.Opportunity",
    "opportunities:delete": "pipeline.Opportunity",
    # follow-ups, visit plans, my day, reminders (H-ACT)
    "activities:followup_edit": "activities.FollowUp",
    "activities:followup_delete": "activities.FollowUp",
    "activities:plan_edit": "activities.VisitPlan",
    "activities:plan_status": "activities.VisitPlan",
    "activities:reminder_done": "activities.Reminder",
    "activities:rule_edit": "activities.ReminderRule",
    "activities:rule_delete": "activities.ReminderRule",
    # comments and attachments (H-COLLAB)
    "collab:comment_add": "customers.Customer",
    "collab:comment_edit": "core.Comment",
    "collab:comment_delete": "core.Comment",
    "collab:attachment_add": "customers.Customer",
    "collab:attachment_download": "core.Attachment",
    "collab:attachment_delete": "core.Attachment",
    "crm_core_collab_api_edit_comment": "core.Comment",
    "crm_core_collab_api_delete_comment": "core.Comment",
    "crm_core_collab_api_download_attachment": "core.Attachment",
    "crm_core_collab_api_delete_attachment": "core.Attachment",
    # opportunities and activities API (H-API)
    "crm_pipeline_opportunity_api_get_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_update_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_delete_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_move_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_win_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_lose_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_abandon_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_pause_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_resume_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_reopen_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_transfer_opportunity": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_set_opportunity_collaborators": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_opportunity_history": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_opportunity_lines": "pipeline.Opportunity",
    "crm_pipeline_opportunity_api_get_saved_query": "pipeline.SavedQuery",
    "crm_pipeline_opportunity_api_update_saved_query": "pipeline.SavedQuery",
    "crm_pipeline_opportunity_api_delete_saved_query": "pipeline.SavedQuery",
    "crm_activities_api_get_followup": "activities.FollowUp",
    "crm_activities_api_update_followup": "activities.FollowUp",
    "crm_activities_api_delete_followup": "activities.FollowUp",
    "crm_activities_api_get_plan": "activities.VisitPlan",
    "crm_activities_api_update_plan": "activities.VisitPlan",
    "crm_activities_api_set_plan_status": "activities.VisitPlan",
    "crm_activities_api_reminder_done": "activities.Reminder",
    "crm_activities_api_update_reminder_rule": "activities.ReminderRule",
    "crm_activities_api_delete_reminder_rule": "activities.ReminderRule",
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
    "customers:sections": "customers.Customer",
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
    # imports (H-IMPORT)
    "imports:mapping_delete": "imports.ImportTemplate",
    "imports:detail": "imports.ImportJob",
    "imports:map": "imports.ImportJob",
    "imports:preview": "imports.ImportJob",
    "imports:run": "imports.ImportJob",
    "imports:status": "imports.ImportJob",
    "imports:errors": "imports.ImportJob",
    "imports:resume": "imports.ImportJob",
    "imports:cancel": "imports.ImportJob",
    "crm_imports_api_get_job": "imports.ImportJob",
    "crm_imports_api_update_job": "imports.ImportJob",
    "crm_imports_api_preview_job": "imports.ImportJob",
    "crm_imports_api_start_job": "imports.ImportJob",
    "crm_imports_api_resume_job": "imports.ImportJob",
    "crm_imports_api_cancel_job": "imports.ImportJob",
    "crm_imports_api_list_job_errors": "imports.ImportJob",
    "crm_imports_api_delete_mapping": "imports.ImportTemplate",  # api-gaps
    # sales: contracts, orders, returns, approvals and approval flows (H-CONTRACTS)
    "sales:contract_detail": "sales.Contract",
    "sales:contract_edit": "sales.Contract",
    "sales:contract_submit": "sales.Contract",
    "sales:contract_withdraw": "sales.Contract",
    "sales:contract_sign": "sales.Contract",
    "sales:contract_start": "sales.Contract",
    "sales:contract_complete": "sales.Contract",
    "sales:contract_terminate": "sales.Contract",
    "sales:contract_amend": "sales.Contract",
    "sales:order_create": "sales.Contract",
    "sales:return_create": "sales.Contract",
    "sales:amendment_withdraw": "sales.ContractAmendment",
    "sales:order_detail": "sales.Order",
    "sales:order_status": "sales.Order",
    "sales:return_detail": "sales.ReturnRequest",
    "sales:return_edit": "sales.ReturnRequest",
    "sales:return_submit": "sales.ReturnRequest",
    "sales:return_withdraw": "sales.ReturnRequest",
    "sales:return_refund": "sales.ReturnRequest",
    "sales:approval_detail": "sales.ApprovalRequest",
    "sales:approval_approve": "sales.ApprovalRequest",
    "sales:approval_reject": "sales.ApprovalRequest",
    "sales:approval_withdraw": "sales.ApprovalRequest",
    "sales:flow_edit": "sales.ApprovalFlow",
    "sales:flow_toggle": "sales.ApprovalFlow",
    "sales:flow_move": "sales.ApprovalFlow",
    "sales:step_create": "sales.ApprovalFlow",
    "sales:step_edit": "sales.ApprovalStep",
    "sales:step_delete": "sales.ApprovalStep",
    "sales:step_move": "sales.ApprovalStep",
    "crm_sales_contract_api_get_approval_request": "sales.ApprovalRequest",
    "crm_sales_contract_api_approve_request": "sales.ApprovalRequest",
    "crm_sales_contract_api_reject_request": "sales.ApprovalRequest",
    "crm_sales_contract_api_withdraw_request": "sales.ApprovalRequest",
    "crm_sales_contract_api_get_approval_flow": "sales.ApprovalFlow",  # api-gaps
    "crm_sales_contract_api_update_approval_flow": "sales.ApprovalFlow",  # api-gaps
    "crm_sales_contract_api_move_approval_flow": "sales.ApprovalFlow",  # api-gaps
    "crm_sales_contract_api_add_approval_step": "sales.ApprovalFlow",  # api-gaps
    "crm_sales_contract_api_update_approval_step": "sales.ApprovalStep",  # api-gaps
    "crm_sales_contract_api_move_approval_step": "sales.ApprovalStep",  # api-gaps
    "crm_sales_contract_api_delete_approval_step": "sales.ApprovalStep",  # api-gaps
    "crm_sales_contract_api_get_order": "sales.Order",
    "crm_sales_contract_api_update_order": "sales.Order",
    "crm_sales_contract_api_get_return": "sales.ReturnRequest",
    "crm_sales_contract_api_update_return": "sales.ReturnRequest",
    "crm_sales_contract_api_submit_return": "sales.ReturnRequest",
    "crm_sales_contract_api_withdraw_return": "sales.ReturnRequest",
    "crm_sales_contract_api_refund_return": "sales.ReturnRequest",
    "crm_sales_contract_api_get_contract": "sales.Contract",
    "crm_sales_contract_api_update_contract": "sales.Contract",
    "crm_sales_contract_api_submit_contract": "sales.Contract",
    "crm_sales_contract_api_withdraw_contract": "sales.Contract",
    "crm_sales_contract_api_sign_contract": "sales.Contract",
    "crm_sales_contract_api_start_contract": "sales.Contract",
    "crm_sales_contract_api_complete_contract": "sales.Contract",
    "crm_sales_contract_api_terminate_contract": "sales.Contract",
    "crm_sales_contract_api_amend_contract": "sales.Contract",
    "crm_sales_contract_api_list_contract_amendments": "sales.Contract",
    "crm_sales_contract_api_contract_approvals": "sales.Contract",
    # finance (H-FINANCE)
    "finance:plan_edit": "sales.Contract",
    "finance:writeoff_create": "finance.ReceivablePlan",
    "finance:receipt_detail": "finance.Receipt",
    "finance:receipt_void": "finance.Receipt",
    "finance:invoice_detail": "finance.Invoice",
    "finance:invoice_issue": "finance.Invoice",
    "finance:invoice_mail": "finance.Invoice",
    "finance:invoice_cancel": "finance.Invoice",
    "crm_finance_api_get_plan": "finance.ReceivablePlan",
    "crm_finance_api_replace_plans": "sales.Contract",
    "crm_finance_api_get_receipt": "finance.Receipt",
    "crm_finance_api_void_receipt": "finance.Receipt",
    "crm_finance_api_get_invoice": "finance.Invoice",
    "crm_finance_api_issue_invoice": "finance.Invoice",
    "crm_finance_api_mail_invoice": "finance.Invoice",
    "crm_finance_api_cancel_invoice": "finance.Invoice",
    # sales: products, price lists, quotes, documents, Word templates (H-QUOTES)
    "sales:product_edit": "sales.Product",
    "sales:product_delete": "sales.Product",
    "sales:pricelist_edit": "sales.PriceList",
    "sales:quote_detail": "sales.Quote",
    "sales:quote_edit": "sales.Quote",
    "sales:quote_send": "sales.Quote",
    "sales:quote_withdraw": "sales.Quote",
    "sales:quote_accept": "sales.Quote",
    "sales:quote_reject": "sales.Quote",
    "sales:quote_revise": "sales.Quote",
    "sales:quote_delete": "sales.Quote",
    "sales:quote_print": "sales.Quote",
    "sales:quote_docx": "sales.Quote",
    "sales:contract_print": "sales.Contract",
    "sales:contract_docx": "sales.Contract",
    "sales:template_download": "sales.DocumentTemplate",
    "sales:template_delete": "sales.DocumentTemplate",
    "crm_sales_quote_api_get_product": "sales.Product",
    "crm_sales_quote_api_update_product": "sales.Product",
    "crm_sales_quote_api_delete_product": "sales.Product",  # api-gaps
    "crm_sales_quote_api_update_price_list": "sales.PriceList",  # api-gaps
    "crm_sales_quote_api_get_price_list": "sales.PriceList",
    "crm_sales_quote_api_get_quote": "sales.Quote",
    "crm_sales_quote_api_update_quote": "sales.Quote",
    "crm_sales_quote_api_delete_quote": "sales.Quote",
    "crm_sales_quote_api_send_quote": "sales.Quote",
    "crm_sales_quote_api_accept_quote": "sales.Quote",
    "crm_sales_quote_api_reject_quote": "sales.Quote",
    "crm_sales_quote_api_revise_quote": "sales.Quote",
    # >>> H-DASH
    # <<< H-DASH
    # >>> H-FORECAST
    "analytics:forecast_adjust": "analytics.ForecastCommit",
    "crm_analytics_forecast_api_adjust_commit": "analytics.ForecastCommit",
    # <<< H-FORECAST
    # >>> H-REPORTS
    "analytics:report_detail": "analytics.SavedReport",
    "analytics:report_edit": "analytics.SavedReport",
    "analytics:report_delete": "analytics.SavedReport",
    "analytics:report_schedule": "analytics.SavedReport",
    "analytics:schedule_edit": "analytics.ReportSchedule",
    "analytics:schedule_delete": "analytics.ReportSchedule",
    "analytics:delivery_detail": "analytics.ReportDelivery",
    "crm_analytics_report_api_get_report": "analytics.SavedReport",
    "crm_analytics_report_api_update_report": "analytics.SavedReport",
    "crm_analytics_report_api_delete_report": "analytics.SavedReport",
    "crm_analytics_report_api_run_report": "analytics.SavedReport",
    "crm_analytics_report_api_get_schedule": "analytics.ReportSchedule",
    "crm_analytics_report_api_update_schedule": "analytics.ReportSchedule",
    "crm_analytics_report_api_delete_schedule": "analytics.ReportSchedule",
    # <<< H-REPORTS
    # >>> H-HOOKS
    "webhooks:edit": "core.WebhookEndpoint",
    "webhooks:delete": "core.WebhookEndpoint",
    "webhooks:rotate": "core.WebhookEndpoint",
    "webhooks:deliveries": "core.WebhookEndpoint",
    "webhooks:redeliver": "core.WebhookDelivery",
    "crm_core_webhook_api_get_webhook": "core.WebhookEndpoint",
    "crm_core_webhook_api_update_webhook": "core.WebhookEndpoint",
    "crm_core_webhook_api_delete_webhook": "core.WebhookEndpoint",
    "crm_core_webhook_api_rotate_webhook_secret": "core.WebhookEndpoint",
    "crm_core_webhook_api_list_deliveries": "core.WebhookEndpoint",
    "crm_core_webhook_api_redeliver_delivery": "core.WebhookDelivery",
    # <<< H-HOOKS
    # >>> H-SVC
    "service:ticket_detail": "service.Ticket",
    "service:ticket_edit": "service.Ticket",
    "service:ticket_status": "service.Ticket",
    "service:ticket_transfer": "service.Ticket",
    "service:ticket_delete": "service.Ticket",
    "service:visit_complete": "service.ReturnVisit",
    "service:visit_cancel": "service.ReturnVisit",
    "crm_service_api_get_ticket": "service.Ticket",
    "crm_service_api_update_ticket": "service.Ticket",
    "crm_service_api_delete_ticket": "service.Ticket",
    "crm_service_api_change_ticket_status": "service.Ticket",
    "crm_service_api_transfer_ticket": "service.Ticket",
    "crm_service_api_complete_visit": "service.ReturnVisit",
    # visit-plan
    "service:visit_reschedule": "service.ReturnVisit",
    "crm_service_api_reschedule_visit": "service.ReturnVisit",
    # <<< H-SVC
    # >>> H-KB
    "knowledge:detail": "knowledge.Article",
    "knowledge:edit": "knowledge.Article",
    "knowledge:status": "knowledge.Article",
    "knowledge:delete": "knowledge.Article",
    "knowledge:case_create": "pipeline.Opportunity",
    "crm_knowledge_api_get_article": "knowledge.Article",
    "crm_knowledge_api_update_article": "knowledge.Article",
    "crm_knowledge_api_set_article_status": "knowledge.Article",
    "crm_knowledge_api_delete_article": "knowledge.Article",
    "crm_knowledge_api_related_articles": "pipeline.Opportunity",
    "crm_knowledge_api_create_case_study": "pipeline.Opportunity",
    # kb-categories
    "knowledge:category_edit": "knowledge.Category",
    "knowledge:category_move": "knowledge.Category",
    "knowledge:category_active": "knowledge.Category",
    "knowledge:category_delete": "knowledge.Category",
    "crm_knowledge_api_update_category": "knowledge.Category",
    "crm_knowledge_api_delete_category": "knowledge.Category",
    # <<< H-KB
    # >>> H-CF
    "customfields:edit": "core.CustomField",
    "customfields:retire": "core.CustomField",
    "customfields:restore": "core.CustomField",
    "customfields:move": "core.CustomField",
    "crm_core_custom_field_api_get_custom_field": "core.CustomField",
    "crm_core_custom_field_api_update_custom_field": "core.CustomField",
    "crm_core_custom_field_api_retire_custom_field": "core.CustomField",
    "crm_core_custom_field_api_restore_custom_field": "core.CustomField",
    # <<< H-CF
    # >>> H-CAMP
    "marketing:detail": "marketing.Campaign",
    "marketing:edit": "marketing.Campaign",
    "marketing:status": "marketing.Campaign",
    "marketing:form_token": "marketing.Campaign",
    "marketing:delete": "marketing.Campaign",
    "crm_marketing_api_get_campaign": "marketing.Campaign",
    "crm_marketing_api_get_attribution": "marketing.Campaign",
    "crm_marketing_api_update_campaign": "marketing.Campaign",
    "crm_marketing_api_set_campaign_status": "marketing.Campaign",
    "crm_marketing_api_delete_campaign": "marketing.Campaign",
    "crm_marketing_api_regenerate_form_token": "marketing.Campaign",  # api-gaps
    # <<< H-CAMP
    # >>> H-MAIL
    "mailing:campaign_detail": "mailing.EmailCampaign",
    "mailing:campaign_edit": "mailing.EmailCampaign",
    "mailing:campaign_send": "mailing.EmailCampaign",
    "mailing:campaign_cancel": "mailing.EmailCampaign",
    "mailing:campaign_delete": "mailing.EmailCampaign",
    "crm_mailing_api_get_email_campaign": "mailing.EmailCampaign",
    "crm_mailing_api_update_email_campaign": "mailing.EmailCampaign",
    "crm_mailing_api_delete_email_campaign": "mailing.EmailCampaign",
    "crm_mailing_api_send_email_campaign": "mailing.EmailCampaign",
    "crm_mailing_api_cancel_email_campaign": "mailing.EmailCampaign",
    "crm_mailing_api_list_email_recipients": "mailing.EmailCampaign",
    "mailing:unsubscribe_remove": "mailing.Unsubscribe",  # mailing-bounces
    "crm_mailing_api_remove_unsubscribe": "mailing.Unsubscribe",  # mailing-bounces
    # <<< H-MAIL
    # >>> H-LSCORE
    "leads:scoring_rule_edit": "leads.LeadScoringRule",
    "leads:scoring_rule_delete": "leads.LeadScoringRule",
    "leads:lead_followup": "leads.Lead",
    "crm_leads_scoring_api_get_scoring_rule": "leads.LeadScoringRule",
    "crm_leads_scoring_api_update_scoring_rule": "leads.LeadScoringRule",
    "crm_leads_scoring_api_delete_scoring_rule": "leads.LeadScoringRule",
    "crm_leads_scoring_api_get_lead_score": "leads.Lead",
    "crm_leads_scoring_api_log_lead_followup": "leads.Lead",
    # <<< H-LSCORE
    # >>> H-WINP
    "crm_scoring_api_get_win_score": "pipeline.Opportunity",
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
    # >>> H-MAVEN
    # <<< H-MAVEN
}

# --- Documented exceptions to the page-wide protections ------------------------------------------
#: Pages without CSRF protection: the public lead web form is posted from other sites by people
#: without a session; a signed, time-limited stamp (crm.leads.webform) replaces the token.
#: The unsubscribe page of campaign mails takes RFC 8058 one-click POSTs from mail clients; its
#: signed token (crm.mailing.services) is the only authority (H-MAIL).
CSRF_EXEMPT: frozenset[str] = frozenset({"leads:webform", "mailing:unsubscribe"})
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
