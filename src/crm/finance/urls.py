"""/finance/: the collection board and analysis, receivables and plan editing, receipts,
write-offs and invoices (URL names ``finance:<page>``)."""

from django.urls import path

from . import views

app_name = "finance"

urlpatterns = [
    path("", views.collection_board, name="collection_board"),
    path("analysis/", views.analysis, name="analysis"),
    path("receivables/", views.plan_list, name="plan_list"),
    path("contracts/<int:pk>/plans/", views.plan_edit, name="plan_edit"),
    path("receivables/<int:pk>/write-off/", views.writeoff_create, name="writeoff_create"),
    path("receipts/", views.receipt_list, name="receipt_list"),
    path("receipts/new/", views.receipt_create, name="receipt_create"),
    path("receipts/<int:pk>/", views.receipt_detail, name="receipt_detail"),
    path("receipts/<int:pk>/void/", views.receipt_void, name="receipt_void"),
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/new/", views.invoice_create, name="invoice_create"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/issue/", views.invoice_issue, name="invoice_issue"),
    path("invoices/<int:pk>/mail/", views.invoice_mail, name="invoice_mail"),
    path("invoices/<int:pk>/cancel/", views.invoice_cancel, name="invoice_cancel"),
]
