"""The citizen's own words from a mail body: HTML to clean text, quoted history and signatures cut.

HTML goes through html2text (a well-kept converter) with links, images and emphasis marks off, so
what is left reads like the plain part would. Trimming cuts at the first line that starts quoted
history (the forms Chinese and English mail programs write: QQ/Foxmail "原始邮件", Outlook
"发件人: … 发送时间:", Gmail "在 … 写道：" / "On … wrote:") or a signature ("-- ", "发自我的iPhone"),
then drops ">"-quoted lines; when nothing would remain, the text is kept whole.
"""
from __future__ import annotations

import re

import html2text

_CUT_LINES = [re.compile(p, re.IGNORECASE) for p in (
    r"^-{2,}\s*(原始邮件|原始郵件|original message|forwarded message|转发邮件|转发的邮件|回复的原邮件)\s*-{2,}\s*$",
    r"^-{3,}\s*original message\s*-{3,}",
    r"^(在|于|於).{0,120}(写道|寫道)\s*[:：]\s*$",
    r"^on .{0,200}wrote:\s*$",
    r"^_{20,}\s*$",
    r"^--\s?$",
    r"^(发自我的|来自我的|從我的|sent from my |发送自 |来自 ?(华为|小米|vivo|oppo|荣耀))",
)]
# an Outlook-style header block: "发件人:" / "From:" followed within three lines by a date line
_FROM_LINE = re.compile(r"^\s*\*{0,2}(发件人|寄件者|from)\s*\*{0,2}\s*[:：]", re.IGNORECASE)
_DATE_LINE = re.compile(r"^\s*\*{0,2}(发送时间|日期|時間|sent|date)\s*\*{0,2}\s*[:：]", re.IGNORECASE)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0            # no hard wrapping: Chinese has no spaces to wrap at
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True       # keep characters, no ASCII stand-ins
    converter.single_line_break = True
    text = converter.handle(html)
    lines = [line.rstrip() for line in text.splitlines()]
    # html2text marks headings and list items in Markdown; a citizen wrote neither
    lines = [re.sub(r"^\s*#{1,6}\s+", "", line) for line in lines]
    lines = [re.sub(r"^\s*[*+-]\s+", "", line) for line in lines]
    # table rules ("---|---") carry nothing; cells stay apart with spaces
    lines = [" ".join(line.replace("|", " ").split()) if "|" in line else line
             for line in lines if not re.fullmatch(r"[-|:\s]+", line) or not line.strip()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trim_reply(text: str) -> str:
    """The new words of a mail: cut at quoted history or a signature, drop quoted lines."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(p.match(stripped) for p in _CUT_LINES):
            cut = i
            break
        if _FROM_LINE.match(stripped) and any(_DATE_LINE.match(lines[j].strip())
                                               for j in range(i + 1, min(i + 4, len(lines)))):
            cut = i
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    result = "\n".join(kept).strip()
    result = re.sub(r"\n{3,}", "\n\n", result)
    return result or text.strip()
