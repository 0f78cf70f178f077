"""Organisation settings pages: organisation, departments, users, roles."""

urlpatterns: list = []
