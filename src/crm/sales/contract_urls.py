"""/sales/…: contracts (with amendments), orders, returns, the approval inbox and the approval
flow settings (H-CONTRACTS). Combined with the quote pages in ``crm.sales.urls``."""

from django.urls import path

from . import approval_views as a
from . import contract_views as v

urlpatterns = [
    # contracts
    path("contracts/", v.contract_list, name="contract_list"),
    path("contracts/new/", v.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", v.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", v.contract_edit, name="contract_edit"),
    path("contracts/<int:pk>/submit/", v.contract_submit, name="contract_submit"),
    path("contracts/<int:pk>/withdraw/", v.contract_withdraw, name="contract_withdraw"),
    path("contracts/<int:pk>/sign/", v.contract_sign, name="contract_sign"),
    path("contracts/<int:pk>/start/", v.contract_start, name="contract_start"),
    path("contracts/<int:pk>/complete/", v.contract_complete, name="contract_complete"),
    path("contracts/<int:pk>/terminate/", v.contract_terminate, name="contract_terminate"),
    path("contracts/<int:pk>/amend/", v.contract_amend, name="contract_amend"),
    path("amendments/<int:pk>/withdraw/", v.amendment_withdraw, name="amendment_withdraw"),
    # orders
    path("orders/", v.order_list, name="order_list"),
    path("contracts/<int:pk>/orders/new/", v.order_create, name="order_create"),
    path("orders/<int:pk>/", v.order_detail, name="order_detail"),
    path("orders/<int:pk>/status/", v.order_status, name="order_status"),
    # returns
    path("returns/", v.return_list, name="return_list"),
    path("contracts/<int:pk>/returns/new/", v.return_create, name="return_create"),
    path("returns/<int:pk>/", v.return_detail, name="return_detail"),
    path("returns/<int:pk>/edit/", v.return_edit, name="return_edit"),
    path("returns/<int:pk>/submit/", v.return_submit, name="return_submit"),
    path("returns/<int:pk>/withdraw/", v.return_withdraw, name="return_withdraw"),
    path("returns/<int:pk>/refund/", v.return_refund, name="return_refund"),
    # approvals
    path("approvals/", a.approval_inbox, name="approval_inbox"),
    path("approvals/<int:pk>/", a.approval_detail, name="approval_detail"),
    path("approvals/<int:pk>/approve/", a.approval_approve, name="approval_approve"),
    path("approvals/<int:pk>/reject/", a.approval_reject, name="approval_reject"),
    path("approvals/<int:pk>/withdraw/", a.approval_withdraw, name="approval_withdraw"),
    # approval flow settings
    path("settings/approval-flows/", a.flow_list, name="flow_list"),
    path("settings/approval-flows/new/", a.flow_create, name="flow_create"),
    path("settings/approval-flows/<int:pk>/", a.flow_edit, name="flow_edit"),
    path("settings/approval-flows/<int:pk>/toggle/", a.flow_toggle, name="flow_toggle"),
    path("settings/approval-flows/<int:pk>/move/<str:direction>/", a.flow_move, name="flow_move"),
    path("settings/approval-flows/<int:pk>/steps/new/", a.step_create, name="step_create"),
    path("settings/approval-steps/<int:pk>/", a.step_edit, name="step_edit"),
    path("settings/approval-steps/<int:pk>/delete/", a.step_delete, name="step_delete"),
    path("settings/approval-steps/<int:pk>/move/<str:direction>/", a.step_move, name="step_move"),
]
