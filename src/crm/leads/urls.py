"""Pages of the leads module (/leads/…) and the public web form (/leads/form/<token>/)."""

from django.urls import path

from . import scoring_views as sv
from . import views as v

app_name = "leads"

urlpatterns = [
    path("", v.lead_list, name="lead_list"),
    path("mine/", v.my_leads, name="my_leads"),
    path("total/", v.total_pool, name="total_pool"),
    path("new/", v.lead_create, name="lead_create"),
    path("bulk/", v.bulk_action, name="bulk"),
    path("<int:pk>/", v.lead_detail, name="lead_detail"),
    path("<int:pk>/followup/", sv.lead_followup, name="lead_followup"),  # H-LSCORE
    path("<int:pk>/edit/", v.lead_edit, name="lead_edit"),
    path("<int:pk>/convert/", v.lead_convert, name="lead_convert"),
    path("<int:pk>/<str:action>/", v.lead_action, name="lead_action"),
    path("pools/", v.pool_list, name="pool_list"),
    path("pools/new/", v.pool_create, name="pool_create"),
    path("pools/<int:pk>/", v.pool_leads, name="pool_leads"),
    path("pools/<int:pk>/edit/", v.pool_edit, name="pool_edit"),
    path("pools/<int:pk>/members/", v.pool_members, name="pool_members"),
    path("pools/<int:pk>/form-token/", v.pool_form_token, name="pool_form_token"),
    path("forms/", v.webforms, name="webforms"),
    path("rules/", v.rule_list, name="rule_list"),
    path("rules/new/", v.rule_create, name="rule_create"),
    path("rules/<int:pk>/edit/", v.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", v.rule_delete, name="rule_delete"),
    path("form/<str:token>/", v.web_form, name="webform"),
    # H-LSCORE: lead scoring rules
    path("scoring/", sv.scoring_rules, name="scoring_rules"),
    path("scoring/new/", sv.scoring_rule_create, name="scoring_rule_create"),
    path("scoring/<int:pk>/edit/", sv.scoring_rule_edit, name="scoring_rule_edit"),
    path("scoring/<int:pk>/delete/", sv.scoring_rule_delete, name="scoring_rule_delete"),
]
