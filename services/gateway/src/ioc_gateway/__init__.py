"""The IOC gateway: operators' login, API, live feeds (WebSocket and SSE) and dashboard."""
