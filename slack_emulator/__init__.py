"""A loopback Slack emulator: fake Web API + Slack-shaped signed requests to the bot.

emulator = Emulator()
async with serve_emulator(emulator) as base_url:
    client = AsyncWebClient(token="xoxb-test", base_url=base_url)
    sender = SlackRequestSender(bot_url, signing_secret, emulator)
"""

from slack_emulator.blockkit import Limits
from slack_emulator.client import SlackRequestSender, sign
from slack_emulator.webapi import Call, Emulator, Faults, create_webapi_app, serve_asgi, serve_emulator
from slack_emulator.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Channel,
    Ephemeral,
    Message,
    SlackError,
    Workspace,
)

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Channel",
    "Emulator",
    "Ephemeral",
    "Faults",
    "Limits",
    "Message",
    "SlackError",
    "SlackRequestSender",
    "Workspace",
    "create_webapi_app",
    "serve_asgi",
    "serve_emulator",
    "sign",
]
