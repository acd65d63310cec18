"""One base class for every failure the data pump reports."""


class PumpError(Exception):
    """Base class of data-pump errors."""


class PublishFailed(PumpError):
    """A batch could not be published (and acknowledged) in full; it was rolled back."""


class ChannelClosed(PublishFailed):
    """The in-process channel was closed: nothing more can be shipped into it."""
