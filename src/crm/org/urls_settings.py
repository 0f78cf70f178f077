"""Organisation settings pages: organisation, departments, users, roles."""

from django.urls import path

from . import settings_views as v

urlpatterns = [
    path("organization/", v.organization, name="organization"),
    path("departments/", v.department_list, name="department_list"),
    path("departments/new/", v.department_create, name="department_create"),
    path("departments/<int:pk>/", v.department_detail, name="department_detail"),
    path("departments/<int:pk>/edit/", v.department_edit, name="department_edit"),
    path("departments/<int:pk>/move/", v.department_move, name="department_move"),
    path("users/", v.user_list, name="user_list"),
    path("users/new/", v.user_create, name="user_create"),
    path("users/<int:pk>/", v.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", v.user_edit, name="user_edit"),
    path("users/<int:pk>/deactivate/", v.user_deactivate, name="user_deactivate"),
    path("users/<int:pk>/reactivate/", v.user_reactivate, name="user_reactivate"),
    path("roles/", v.role_list, name="role_list"),
    path("roles/new/", v.role_create, name="role_create"),
    path("roles/<int:pk>/", v.role_detail, name="role_detail"),
    path("roles/<int:pk>/edit/", v.role_edit, name="role_edit"),
    path("roles/<int:pk>/copy/", v.role_copy, name="role_copy"),
    path("roles/<int:pk>/delete/", v.role_delete, name="role_delete"),
]
