from tests.client.live import live, start_live

__all__ = ["live", "start_live"]
