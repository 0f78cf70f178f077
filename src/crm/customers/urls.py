"""Pages of the customers module, mounted at /customers/ (URL names ``customers:<page>``)."""

from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("bulk/", views.customer_bulk, name="bulk"),
    path("new/", views.customer_create, name="create"),
    path("check-duplicates/", views.check_duplicates, name="check_duplicates"),
    path("pick/", views.pick_customer, name="pick"),
    path("merge/", views.merge, name="merge"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/sections/", views.customer_sections, name="sections"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/transfer/", views.customer_transfer, name="transfer"),
    path("<int:pk>/release/", views.customer_release, name="release"),
    path("<int:pk>/claim/", views.customer_claim, name="claim"),
    path("<int:pk>/assign/", views.customer_assign, name="assign"),
    path("<int:pk>/contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path("pools/", views.pool_list, name="pool_list"),
    path("pools/new/", views.pool_create, name="pool_create"),
    path("pools/<int:pk>/", views.pool_detail, name="pool_detail"),
    path("pools/<int:pk>/edit/", views.pool_edit, name="pool_edit"),
]
