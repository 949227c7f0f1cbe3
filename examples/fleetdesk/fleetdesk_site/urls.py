"""URL configuration for fleetdesk_site (the example has no views of its own)."""
urlpatterns = []
