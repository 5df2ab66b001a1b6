"""Page furniture: lines a news page prints around an article that are not part of it.

The rules are data.  Each pattern must match a *whole* line (after NFKC and whitespace
folding, see :func:`~gateway.articles.normalisation.comparable`), so a body sentence that
merely mentions 海报新闻 or 山东手机报 is never dropped.  To teach the parsers a new piece
of furniture, add a rule here and a line to the tests.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.articles.normalisation import comparable


class FurnitureAction(enum.Enum):
    DROP = "drop"  # leave this line out
    STOP = "stop"  # the article is over: this line and everything after it go


@dataclass(frozen=True, slots=True)
class FurnitureRule:
    pattern: re.Pattern[str]
    action: FurnitureAction
    what: str  # why the line is furniture, for readers of this table and for debugging
    #: The line is the bare name of an outlet: furniture in a menu, but a valid value on
    #: the line after an empty ``来源:``.
    names_outlet: bool = False


def _drop(regex: str, what: str) -> FurnitureRule:
    return FurnitureRule(re.compile(regex), FurnitureAction.DROP, what)


def _outlet(regex: str, what: str) -> FurnitureRule:
    return FurnitureRule(re.compile(regex), FurnitureAction.DROP, what, names_outlet=True)


def _stop(regex: str, what: str) -> FurnitureRule:
    return FurnitureRule(re.compile(regex), FurnitureAction.STOP, what)


# Outlets and accounts that 大众网 pages list in their "media matrix" and share menus.
_OUTLETS = (
    r"(?:海报新闻|大众网|大众日报|大众海蓝|大众网论坛|山东手机报|时政公众号爆三样"
    r"|大众网官方(?:微信|微博|抖音|快手|头条号)|\S{0,8}官方(?:微信|微博|抖音|快手|客户端))"
)
_BULLET = r"[•·●▪◆■\-*]"

FURNITURE_RULES: tuple[FurnitureRule, ...] = (
    # The site header: search box and "media matrix" of outlets.
    _drop(r"(?:搜索\s*)?(?:海报新闻\s*)?媒体矩阵", "search box / media matrix heading"),
    _drop(r"全媒体|矩\s*阵", "media matrix logo words"),
    _outlet(rf"{_BULLET}?\s*{_OUTLETS}", "outlet list of the media matrix"),
    # QR codes and share prompts.
    _drop(r"扫描有惊喜!?", "QR code teaser"),
    _drop(r"(?:扫一扫|扫码|扫描二维码|长按识别二维码|长按二维码|微信扫一扫).{0,24}", "QR prompt"),
    _drop(r"(?:分享到|分享至|一键分享)\s*:?.{0,30}", "share bar"),
    _drop(r"(?:手机查看|手机看新闻|手机阅读|打开APP.{0,10}|下载客户端.{0,10})", "mobile prompt"),
    # The SMS subscription advert box.
    _drop(r"山东手机报订阅方式\s*:?", "SMS subscription advert heading"),
    _drop(r"(?:移动|联通|电信)?用户?发送短信\s*\w{1,8}\s*到\s*\d{5,}", "SMS subscription advert"),
    # Page tools.
    _drop(r"\[?(?:打印|关闭|关闭窗口|打印本页|返回顶部|收藏|纠错|举报)\]?", "page tool link"),
    _drop(r"【?(?:纠错|打印|关闭|收藏)】?", "page tool link"),
    _drop(r"字号\s*:?\s*[大中小\s]+", "font size switch"),
    _drop(r"(?:上一篇|下一篇)\s*:.{0,60}", "previous/next article link"),
    _drop(r"(?:点击|点此)(?:进入|查看|阅读).{0,20}", "click-through prompt"),
    _drop(
        r"版权(?:所有|声明).{0,60}|.{0,20}版权所有.{0,40}|未经.{0,10}授权.{0,40}", "copyright line"
    ),
    # What follows these headings are other articles.
    _stop(r"相关(?:推荐|新闻|阅读|链接|文章)(?:\s*换一换)?", "related articles box"),
    _stop(r"(?:热点|热门|推荐|延伸)阅读|猜你喜欢|换一换|精彩推荐|更多精彩", "recommendations"),
    _stop(r"(?:网友)?评论(?:\s*\(\d+\))?|我要评论|发表评论", "comment box"),
)


def match_furniture(text: str) -> FurnitureRule | None:
    """The first rule whose pattern matches the whole of ``text``, or ``None``."""
    line = comparable(text)
    for rule in FURNITURE_RULES:
        if rule.pattern.fullmatch(line):
            return rule
    return None
