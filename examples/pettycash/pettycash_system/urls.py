"""URL configuration for pettycash_system (the example has no views of its own)."""
urlpatterns = []
