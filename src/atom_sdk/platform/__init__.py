"""HTTP platform: FastAPI app, persistent job store, worker processes and the web UI.

``create_app(settings)`` builds the application; ``atom serve`` runs it with uvicorn. Jobs are rows
in a SQLAlchemy store executed by a pool of spawned worker processes, so the web process only
serves requests.
"""
