from django.db import connection
from django.http import HttpResponse

from .models import Visit


def index(request):
    """Record the visit and say how many there were: proof that the migrated database is reachable."""
    Visit.objects.create()
    settings = connection.settings_dict
    return HttpResponse(
        f"Hello from my-web-app: {Visit.objects.count()} visits recorded in database "
        f"{settings['NAME']} on {settings['HOST']}\n",
        content_type="text/plain",
    )
