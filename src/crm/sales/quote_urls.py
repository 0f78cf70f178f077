"""/sales/…: products, price lists, quotes, the quote and contract documents and the Word
templates (H-QUOTES). Combined with the contract pages in ``crm.sales.urls``."""

from django.urls import path

from . import quote_views as v

urlpatterns = [
    # products and price lists
    path("products/", v.product_list, name="product_list"),
    path("products/new/", v.product_create, name="product_create"),
    path("products/<int:pk>/", v.product_edit, name="product_edit"),
    path("products/<int:pk>/delete/", v.product_delete, name="product_delete"),
    path("price-lists/", v.pricelist_list, name="pricelist_list"),
    path("price-lists/new/", v.pricelist_create, name="pricelist_create"),
    path("price-lists/<int:pk>/", v.pricelist_edit, name="pricelist_edit"),
    # quotes
    path("quotes/", v.quote_list, name="quote_list"),
    path("quotes/new/", v.quote_create, name="quote_create"),
    path("quotes/preview/", v.quote_preview, name="quote_preview"),
    path("quotes/<int:pk>/", v.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/edit/", v.quote_edit, name="quote_edit"),
    path("quotes/<int:pk>/send/", v.quote_send, name="quote_send"),
    path("quotes/<int:pk>/withdraw/", v.quote_withdraw, name="quote_withdraw"),
    path("quotes/<int:pk>/accept/", v.quote_accept, name="quote_accept"),
    path("quotes/<int:pk>/reject/", v.quote_reject, name="quote_reject"),
    path("quotes/<int:pk>/revise/", v.quote_revise, name="quote_revise"),
    path("quotes/<int:pk>/delete/", v.quote_delete, name="quote_delete"),
    # documents
    path("quotes/<int:pk>/print/", v.quote_print, name="quote_print"),
    path("quotes/<int:pk>/document.docx", v.quote_docx, name="quote_docx"),
    path("contracts/<int:pk>/print/", v.contract_print, name="contract_print"),
    path("contracts/<int:pk>/document.docx", v.contract_docx, name="contract_docx"),
    path("settings/document-templates/", v.template_list, name="template_list"),
    path("settings/document-templates/sample/", v.template_sample, name="template_sample"),
    path(
        "settings/document-templates/<int:pk>/download/",
        v.template_download,
        name="template_download",
    ),
    path("settings/document-templates/<int:pk>/delete/", v.template_delete, name="template_delete"),
]
