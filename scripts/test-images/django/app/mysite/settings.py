"""Settings of the podrun test project: the database comes from the environment."""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "podrun-test-image-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "visits"]
MIDDLEWARE = []
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
# No translations: the image carries none (message catalogues are pruned).
USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The seed's web-app container sets no DB_HOST: like an image built for that application, this one finds
# its database where the seed's migration does, at the Service postgres-service.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "postgres-service"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        "NAME": os.environ.get("DB_NAME", "myapp"),
        "USER": os.environ.get("DB_USER", "postgres"),
        "PASSWORD": os.environ.get("DB_PASSWORD", "postgres"),
        # Fail fast while the database is not up yet: the kubelet restarts the migration with back-off.
        "OPTIONS": {"connect_timeout": 5},
    }
}
