"""Log in and out, sign up, password reset, account, two-factor and API tokens."""

from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account, name="account"),
    path("account/tokens/", views.token_list, name="token_list"),
    path("account/2fa/", views.totp_setup, name="totp_setup"),
]
