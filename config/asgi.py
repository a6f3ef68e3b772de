import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Web requests get the short database time limits (settings.WEB_PROCESS).
os.environ["DOWNTIME_WEB_PROCESS"] = "true"

application = get_asgi_application()
