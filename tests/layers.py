from channels_redis.core import RedisChannelLayer


class QuickRedisChannelLayer(RedisChannelLayer):
    """The real Redis layer with a 1 s blocking poll, so closing a consumer in a test is quick."""

    brpop_timeout = 1
