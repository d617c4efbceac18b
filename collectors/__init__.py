"""The MOHURD collector gateway: data collectors (数据采集器) of public buildings speak XML over TCP
to this data centre; their readings become contract messages on MQTT (docs/collectors.md)."""
