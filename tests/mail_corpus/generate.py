"""Writes the mail corpus: raw mails as Chinese mail programs write them (Foxmail, Outlook, QQ Mail,
163/Coremail, iPhone and Android mail, webmail HTML), replies and forwards, bounces, auto-replies,
list mail, spam verdicts, forged and no-reply senders, and every breakage seen in real mailboxes
(multipart/* with no parts, boundaries that never come, headers folded without whitespace, base64
labels on 8-bit text, raw 8-bit file names in GB2312/GBK/GB18030/Big5/UTF-8, lying charsets, deep
nesting, reused Message-IDs), each with what must become of it.

    python tests/mail_corpus/generate.py      (deterministic; rewrites mails/ and manifest.json)

The bytes are written here by hand from the standards (RFC 5322, 2045-2047, 2231, 3464, 3834,
8601) and from what the clients put in their headers; nothing from the gateway is imported, so the
expected body in the manifest is decoded independently of the parser under test: it is the text
the mail was made from (for replies and forwards, the sender's new words; for HTML, one line per
paragraph; with no words at all, the subject).
"""
from __future__ import annotations

import base64
import json
import quopri
from pathlib import Path

HERE = Path(__file__).parent
HOTLINE = "12345@city.gov.cn"
DATE = "Sat, 28 Nov 2026 10:{:02d}:00 +0800"

TEXTS = [
    ("投诉：小区路灯损坏", ["幸福路18号小区的路灯已经坏了两个星期，晚上出行非常不安全。", "请有关部门尽快派人修理，谢谢！"]),
    ("噪音扰民", ["隔壁酒吧每晚营业到凌晨三点，音乐声音很大，严重影响休息。", "多次沟通无果，希望执法部门处理。"]),
    ("建议增加公交线路", ["新区人口越来越多，但只有一条公交线路，高峰期非常拥挤。", "建议增加一条从新区到火车站的公交线路。"]),
    ("咨询：居住证办理", ["请问外地户籍人员办理居住证需要哪些材料？", "在哪个窗口办理，需要多长时间？"]),
    ("投诉物业不作为", ["我们小区电梯经常坏，物业公司一直不修，老人上下楼很困难。", "物业费每年都按时交，服务却越来越差。",
                  "请住建部门督促物业公司整改。"]),
    ("道路积水严重", ["人民路和解放路交叉口每次下雨都积水，最深处没过膝盖。", "车辆熄火、行人无法通行，请排水部门尽快疏通。"]),
    ("举报占道经营", ["菜市场门口每天早上都有大量摊贩占道经营，堵塞交通。", "希望城管部门加强管理。"]),
    ("求助：拖欠工资", ["我在某建筑工地打工，老板已经拖欠三个月工资没有发放。", "工友们一共二十多人，请劳动监察部门帮帮我们。"]),
    ("表扬环卫工人", ["感谢东湖街道的环卫工人，每天早上五点就开始清扫，街道非常干净。"]),
    ("投诉出租车拒载", ["昨晚十点在火车站打车，司机嫌路程近拒绝载客，车牌号为粤B12345。", "希望交通部门严肃处理。"]),
    ("自来水水质问题", ["最近家里的自来水发黄，有明显异味，烧开后有白色沉淀。", "小区很多住户都有同样的问题，请供水公司检测。"]),
    ("学校周边交通安全", ["实验小学门口上下学时段车辆乱停乱放，孩子过马路很危险。", "建议设置减速带和交通协管员。"]),
    ("垃圾清运不及时", ["我们村的垃圾站已经一个星期没有清运，臭气熏天，苍蝇很多。"]),
    ("医保报销咨询", ["我母亲在外地住院，请问异地就医的医疗费用如何报销？", "需要提前备案吗？"]),
    ("违章建筑举报", ["绿景花园12栋顶楼住户私自加建阳台和房间，存在安全隐患。", "请规划部门依法查处。"]),
    ("供暖温度不达标", ["今年供暖后室内温度只有十四五度，远低于标准。", "多次打电话给供热公司都没有解决，家里有老人和孩子。"]),
    ("停车收费不合理", ["医院停车场收费从每小时五元涨到十元，没有公示。", "请物价部门核查是否合规。"]),
    ("井盖缺失", ["建设路和光明路口的一个井盖丢失了，只用一个塑料桶挡着，晚上很危险。", "请尽快补上。"]),
    ("投诉餐馆油烟", ["楼下新开的餐馆油烟直排，我家窗户都不敢开。", "请环保部门检查他们有没有安装油烟净化设备。"]),
    ("公园设施损坏", ["人民公园的健身器材有好几件已经损坏，螺丝松动，老人锻炼时差点受伤。"]),
    ("快递柜收费投诉", ["小区的快递柜超过十二小时就收费，快递员也不打电话就直接放柜子里。"]),
    ("路面破损", ["长江路中段路面坑洼不平，有好几个大坑，电动车经过很容易摔倒。", "请市政部门修补。"]),
    ("幼儿园收费问题", ["孩子所在的幼儿园今年突然加收了一千元的“特色课程费”，家长没有选择的余地。", "请教育部门调查。"]),
    ("烟花爆竹燃放", ["小区里每天晚上都有人燃放烟花爆竹，吵得孩子睡不着，也有火灾隐患。"]),
]
TRADITIONAL = [
    ("投訴：路燈損壞", ["幸福路十八號的路燈已經壞了兩個星期，晚上出門非常不安全。", "請有關部門盡快派人修理，謝謝！"]),
    ("噪音擾民", ["隔壁酒吧每晚營業到凌晨三點，音樂聲音很大，嚴重影響休息。"]),
    ("諮詢：居住證辦理", ["請問外地戶籍人員辦理居住證需要哪些材料？在哪個窗口辦理？"]),
    ("道路積水嚴重", ["人民路和解放路交叉口每次下雨都積水，車輛熄火、行人無法通行。", "請排水部門盡快疏通。"]),
]
NAMES = ["张三", "李雷", "王芳", "赵敏", "陈晓明", "刘洋", "周杰", "吴静", "郑凯", "孙丽"]


# ---- encoding by the standards ---------------------------------------------------------------
def b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def qp(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\n", b"\r\n")


def word(text: str, charset: str, how: str = "B") -> str:
    data = text.encode(charset)
    if how == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{''.join(chr(b) if 48 <= b < 123 and chr(b).isalnum() else f'={b:02X}' for b in data)}?="


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def plain(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def html(paragraphs: list[str]) -> str:
    return "<html><head><style>p{margin:0}</style></head><body>" + "".join(
        f"<p>{p}</p>" for p in paragraphs) + "</body></html>"


class Corpus:
    def __init__(self):
        self.items: list[tuple[str, bytes, dict]] = []

    def add(self, kind: str, raw: bytes, *, outcome: str, reason: str = "", body: str | None, subject: str,
            sender: str, name: str = "", files: list[str] = (), ack: bool | None = None, note: str = "") -> None:
        n = len(self.items) + 1
        filename = f"{n:03d}-{kind}.eml"
        self.items.append((filename, raw, {
            "file": filename, "kind": kind, "outcome": outcome, "reason": reason, "body": body,
            "subject": subject, "sender": sender.lower(), "name": name, "files": list(files),
            "ack": (outcome == "case") if ack is None else ack, "note": note}))


def head(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")  # raw 8-bit where a client writes it so


def common(n: int, sender: str, display: str, subject_header: str, mailer: str = "", extra: list[str] = ()) -> list[str]:
    lines = [f"From: {display} <{sender}>" if display else f"From: {sender}", f"To: {HOTLINE}",
             f"Subject: {subject_header}", f"Date: {DATE.format(n % 60)}", f"Message-ID: <corpus-{n:04d}@{sender.split('@')[1]}>",
             "MIME-Version: 1.0"]
    if mailer:
        lines.append(f"X-Mailer: {mailer}")
    return lines + list(extra)


# ---- the clients ------------------------------------------------------------------------------
def alternative(c: Corpus, kind: str, n: int, subject: str, paras: list[str], charset: str, mailer: str,
                sender: str, name: str, cte_plain: str = "base64", cte_html: str = "base64",
                extra: list[str] = (), boundary: str = "----=_NextPart_000_0001") -> None:
    text, markup = plain(paras), html(paras)

    def encode(s: str, cte: str) -> bytes:
        data = crlf(s).encode(charset)
        return b64(data) if cte == "base64" else qp(data)

    raw = head(common(n, sender, word(name, charset), word(subject, charset), mailer, extra) + [
        f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]) + (
        f"This is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\n"
        f'Content-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: {cte_plain}\r\n\r\n').encode() + \
        encode(text, cte_plain) + (f"\r\n\r\n--{boundary}\r\nContent-Type: text/html; charset=\"{charset}\"\r\n"
                                   f"Content-Transfer-Encoding: {cte_html}\r\n\r\n").encode() + \
        encode(markup, cte_html) + f"\r\n\r\n--{boundary}--\r\n".encode()
    c.add(kind, raw, outcome="case", body=text, subject=subject, sender=sender, name=name)


def single(c: Corpus, kind: str, n: int, subject: str, body_text: str, charset: str, *, sender: str, name: str,
           cte: str = "base64", ctype: str = "text/plain", mailer: str = "", extra: list[str] = (),
           expected: str | None = None, outcome: str = "case", reason: str = "", ack: bool | None = None,
           subject_charset: str | None = None, flowed: bool = False) -> None:
    data = crlf(body_text).encode(charset)
    encoded = b64(data) if cte == "base64" else qp(data) if cte == "quoted-printable" else data
    params = f'; charset="{charset}"' + ("; format=flowed; delsp=yes" if flowed else "")
    raw = head(common(n, sender, word(name, subject_charset or charset) if name else "",
                      word(subject, subject_charset or charset), mailer, extra) + [
        f"Content-Type: {ctype}{params}", f"Content-Transfer-Encoding: {cte}", ""]) + encoded + b"\r\n"
    c.add(kind, raw, outcome=outcome, reason=reason, body=body_text if expected is None else expected,
          subject=subject, sender=sender, name=name, ack=ack)


def with_files(c: Corpus, kind: str, n: int, subject: str, paras: list[str], charset: str, *, sender: str,
               name: str, files: list[tuple[bytes, bytes, str]], mailer: str, shown: list[str]) -> None:
    """A mail with attachments; each file is (Content-Type/Disposition lines as bytes, data, name)."""
    boundary = f"----=_Part_{n}_1234.5678"
    raw = head(common(n, sender, word(name, charset), word(subject, charset), mailer) + [
        f'Content-Type: multipart/mixed; boundary="{boundary}"', ""])
    raw += (f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64(crlf(plain(paras)).encode(charset)) + b"\r\n"
    for headers, data, _ in files:
        raw += f"--{boundary}\r\n".encode() + headers + b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(data) + b"\r\n"
    raw += f"--{boundary}--\r\n".encode()
    c.add(kind, raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=name, files=shown)


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
        return True
    except UnicodeEncodeError:
        return False


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


def build() -> Corpus:
    c = Corpus()
    n = 0

    def nxt() -> int:
        nonlocal n
        n += 1
        return n

    def who(i: int, domain: str) -> tuple[str, str]:
        return f"citizen{i:03d}@{domain}", NAMES[i % len(NAMES)]

    # Foxmail, Outlook, QQ Mail, 163: multipart/alternative in the charsets each uses
    for i, (subject, paras) in enumerate(TEXTS):
        k = nxt()
        sender, name = who(k, "foxmail.com")
        alternative(c, "foxmail", k, subject, paras, ["gb2312", "gbk", "utf-8"][i % 3], "Foxmail 7.2.23.116[cn]",
                    sender, name, extra=["X-Priority: 3"])
    for i, (subject, paras) in enumerate(TEXTS):
        k = nxt()
        sender, name = who(k, "outlook.com")
        alternative(c, "outlook", k, subject, paras, "gb2312", "Microsoft Outlook 16.0", sender, name,
                    cte_plain="base64", cte_html="quoted-printable",
                    extra=[f"Thread-Topic: {word(subject, 'gb2312')}", "Thread-Index: AdrFxyzAbCdEfGhIjKlMnOpQrStUvA==",
                           "Content-Language: zh-cn"], boundary="----=_NextPart_000_0007_01DB4139.1C2E3F40")
    for i, (subject, paras) in enumerate(TEXTS[:16]):
        k = nxt()
        sender, name = who(k, "qq.com")
        alternative(c, "qqmail", k, subject, paras, "gb18030", "QQMail 2.x", sender, name,
                    extra=["X-QQ-MIME: TCMime 1.0 by Tencent", "X-QQ-Mailer: QQMail 2.x", f"X-QQ-mid: xmail{k:06d}"],
                    boundary=f"----=_NextPart_6747E{k:03d}_0A1B2C3D_4E5F6A7B")
    for i, (subject, paras) in enumerate(TEXTS[:16]):
        k = nxt()
        sender, name = who(k, "163.com")
        alternative(c, "netease163", k, subject, paras, "GBK", "Coremail Webmail Server Version XT5.0.14", sender, name,
                    extra=["X-Originating-IP: [113.92.1.8]", "X-Coremail-Locale: zh_CN"],
                    boundary=f"----=_Part_{k}_1837361282.1732759200000")
    # mobile clients: iPhone (quoted-printable UTF-8, format=flowed) and Android, signatures cut
    for i, (subject, paras) in enumerate(TEXTS[:12]):
        k = nxt()
        sender, name = who(k, "icloud.com")
        single(c, "iphone", k, subject, plain(paras) + "\n\n发自我的iPhone", "utf-8", sender=sender, name=name,
               cte="quoted-printable", mailer="iPhone Mail (20H115)", expected=plain(paras), flowed=True)
    for i, (subject, paras) in enumerate(TEXTS[12:24]):
        k = nxt()
        sender, name = who(k, "139.com")
        sig = ["发自我的华为手机", "来自小米手机", "发自我的荣耀手机"][i % 3]
        single(c, "android", k, subject, plain(paras) + f"\n\n{sig}", "utf-8", sender=sender, name=name,
               cte="base64", mailer="Android Mail", expected=plain(paras))
    # webmail that sends HTML only: one line per paragraph is what a reader sees
    for i, (subject, paras) in enumerate(TEXTS[:12]):
        k = nxt()
        sender, name = who(k, "sina.com")
        single(c, "html_only", k, subject, html(paras), ["utf-8", "gbk"][i % 2], sender=sender, name=name,
               ctype="text/html", cte=["base64", "quoted-printable"][i % 2], expected="\n".join(paras))
    # replies and forwards: the new words only
    quotes = [
        "\n\n------------------ 原始邮件 ------------------\n发件人: \"12345热线\"<12345@city.gov.cn>\n"
        "发送时间: 2026年11月27日(星期五) 下午3:00\n收件人: \"我\"<me@qq.com>\n主题: 回复：咨询\n\n您好，您的来信已收到。",
        "\n\n发件人: 12345热线 <12345@city.gov.cn>\n发送时间: 2026年11月27日 15:00\n收件人: 我\n主题: 受理通知\n\n旧的内容",
        "\n\n在 2026年11月27日 15:00，12345热线 <12345@city.gov.cn> 写道：\n> 您的来信已收到。\n> 谢谢",
        "\n\nOn Fri, Nov 27, 2026 at 3:00 PM 12345 <12345@city.gov.cn> wrote:\n> Thank you.",
        "\n\n---------- Forwarded message ---------\nFrom: 邻居 <nb@163.com>\nDate: 2026年11月26日\n\n转发的内容",
        "\n\n-----Original Message-----\nFrom: 12345\nSent: Friday\n\nold text",
    ]
    for i, (subject, paras) in enumerate(TEXTS[:18]):
        k = nxt()
        sender, name = who(k, ["qq.com", "outlook.com", "gmail.com", "gmail.com", "gmail.com", "hotmail.com"][i % 6])
        new_words = plain(paras)
        single(c, "reply", k, "回复：" + subject, new_words + quotes[i % len(quotes)], ["gb18030", "utf-8"][i % 2],
               sender=sender, name=name, extra=[f"In-Reply-To: <unknown-{k}@elsewhere.cn>"], expected=new_words)
    # a citizen's mail forwarded as an attachment, with and without words of one's own
    for i, (subject, paras) in enumerate(TEXTS[:6]):
        k = nxt()
        sender, name = who(k, "126.com")
        inner = (f"From: {word('邻居', 'utf-8')} <neighbour{k}@126.com>\r\nSubject: {word(subject, 'utf-8')}\r\n"
                 f"Message-ID: <inner-{k}@126.com>\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64(crlf(plain(paras)).encode()) + b"\r\n"
        own = "请帮忙处理邻居反映的问题。" if i % 2 == 0 else ""
        boundary = f"fwd{k}"
        raw = head(common(k, sender, word(name, "utf-8"), word("转发：" + subject, "utf-8")) + [
            f'Content-Type: multipart/mixed; boundary="{boundary}"', ""])
        if own:
            raw += (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode() + own.encode() + b"\r\n"
        raw += f"--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n".encode() + \
            inner + f"--{boundary}--\r\n".encode()
        c.add("forward_attached", raw, outcome="case", body=own or plain(paras), subject="转发：" + subject,
              sender=sender, name=name, files=["attachment-1.eml"])
    # ---- breakages -----------------------------------------------------------------------------
    # multipart/* with no parts: no boundary at all, or a boundary that never comes
    for i, (subject, paras) in enumerate(TEXTS):
        k = nxt()
        sender, name = who(k, "sohu.com")
        charset = ["gb2312", "gbk", "utf-8"][i % 3]
        ctype = ["multipart/mixed", 'multipart/alternative; boundary="----=_NextPart_000_00A1_01C9"',
                 "multipart/related; type=\"text/plain\""][i % 3]
        raw = head(common(k, sender, word(name, charset), word(subject, charset), "Foxmail 6, 13, 102, 15 [cn]") + [
            f"Content-Type: {ctype}; charset=\"{charset}\"", "Content-Transfer-Encoding: 8bit", ""]) + \
            crlf(plain(paras)).encode(charset) + b"\r\n"
        c.add("empty_multipart", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=name)
    # multipart/* with no boundary whose body is one MIME part; parts under a boundary other than the declared
    for i, (subject, paras) in enumerate(TEXTS[:8]):
        k = nxt()
        sender, name = who(k, "tom.com")
        if i % 2 == 0:
            body = ("Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() + \
                b64(crlf(plain(paras)).encode("gbk")) + b"\r\n"
            ctype = "multipart/mixed"
        else:
            body = (b"--realboundary\r\nContent-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    + b64(crlf(plain(paras)).encode("gbk")) + b"\r\n--realboundary--\r\n")
            ctype = 'multipart/mixed; boundary="declaredboundary"'
        raw = head(common(k, sender, word(name, "gbk"), word(subject, "gbk")) + [f"Content-Type: {ctype}", ""]) + body
        c.add("wrong_boundary", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=name)
    # a Subject folded without leading whitespace, headers after it (list mail among them)
    for i, (subject, paras) in enumerate(TEXTS[:12]):
        k = nxt()
        sender, name = who(k, "yeah.net")
        half = len(subject) // 2
        listed = i % 3 == 2
        lines = [f"From: {word(name, 'gb2312')} <{sender}>", f"To: {HOTLINE}",
                 f"Subject: {word(subject[:half], 'gb2312')}", word(subject[half:], 'gb2312'),
                 f"Date: {DATE.format(k % 60)}", "X-Mailer: Foxmail 6, 15, 201, 23 [cn]",
                 f"Message-ID: <folded-{k}@yeah.net>"]
        if listed:
            lines += ["Precedence: bulk", "List-Id: <weekly.news.yeah.net>"]
        lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=gb2312", "Content-Transfer-Encoding: base64", ""]
        raw = head(lines) + b64(crlf(plain(paras)).encode("gb18030")) + b"\r\n"
        c.add("folded_subject", raw, outcome="ignored" if listed else "case", reason="list" if listed else "",
              body=plain(paras), subject=subject, sender=sender, name=name)
    # Content-Transfer-Encoding: base64 on text that is really 8-bit
    for i, (subject, paras) in enumerate(TEXTS[4:14]):
        k = nxt()
        sender, name = who(k, "21cn.com")
        charset = ["gbk", "utf-8"][i % 2]
        raw = head(common(k, sender, word(name, charset), word(subject, charset)) + [
            f"Content-Type: text/plain; charset={charset}", "Content-Transfer-Encoding: base64", ""]) + \
            crlf(plain(paras)).encode(charset) + b"\r\n"
        c.add("base64_label_lies", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=name)
    # raw 8-bit file names, in the charset of the mail's text
    names = ["现场照片.jpg", "投诉材料（一）.docx", "噪音录音2026年11月.mp3", "工资条_张三.pdf", "路燈照片.jpg", "镕基材料.doc"]
    for i, charset in enumerate(["gb2312", "gbk", "gb18030", "big5", "utf-8", "gbk", "gb2312", "gb18030", "utf-8", "big5"]):
        k = nxt()
        sender, name = who(k, "vip.163.com")
        subject, paras = (TRADITIONAL if charset == "big5" else TEXTS)[i % 4]
        if charset == "big5":
            name = "陳大文"
        fits = [x for x in names if _encodable(x, charset)]
        fname = fits[i % len(fits)]
        raw_name = fname.encode(charset)
        headers = (b'Content-Type: application/octet-stream; name="' + raw_name + b'"\r\n'
                   b'Content-Disposition: attachment; filename="' + raw_name + b'"\r\n')
        with_files(c, "raw_8bit_filename", k, subject, paras, charset, sender=sender, name=name,
                   files=[(headers, JPEG, fname)], mailer="Foxmail 6, 10, 201, 20 [cn]", shown=[fname])
    # file names as clients write them by the standards: RFC 2231 and RFC 2047
    for i, (subject, paras) in enumerate(TEXTS[:6]):
        k = nxt()
        sender, name = who(k, "sina.cn")
        fname = ["照片.jpg", "投诉书.pdf", "现场视频截图.png"][i % 3]
        if i % 2 == 0:
            from urllib.parse import quote
            headers = (f"Content-Type: image/jpeg\r\nContent-Disposition: attachment; "
                       f"filename*=utf-8''{quote(fname.encode('utf-8'))}\r\n").encode()
        else:
            headers = (f'Content-Type: image/jpeg; name="{word(fname, "gbk")}"\r\n'
                       f'Content-Disposition: attachment; filename="{word(fname, "gbk")}"\r\n').encode()
        with_files(c, "encoded_filename", k, subject, paras, "utf-8", sender=sender, name=name,
                   files=[(headers, JPEG, fname)], mailer="Sina Mail", shown=[fname])
    # Big5 from Taiwan and Hong Kong mail programs
    for i, (subject, paras) in enumerate(TRADITIONAL * 2):
        k = nxt()
        sender, name = who(k, "yahoo.com.tw")
        single(c, "big5", k, subject, plain(paras), "big5", sender=sender, name="陳大文",
               cte=["base64", "8bit"][i % 2], mailer="Microsoft Outlook Express 6.00.2900.5512")
    # charsets that lie: GBK-only characters under gb2312, UTF-8 under us-ascii, GBK with no label
    for i, (subject, paras) in enumerate(TEXTS[:12]):
        k = nxt()
        sender, name = who(k, "eyou.com")
        text = plain(paras) + ("\n\n联系人：朱镕基小区 喆 堃" if i % 3 == 0 else "")
        label, enc = [("gb2312", "gbk"), ("us-ascii", "utf-8"), ("", "gbk")][i % 3]
        params = f"; charset={label}" if label else ""
        raw = head(common(k, sender, word(name, "utf-8"), word(subject, "utf-8")) + [
            f"Content-Type: text/plain{params}", "Content-Transfer-Encoding: 8bit", ""]) + crlf(text).encode(enc) + b"\r\n"
        c.add("charset_lies", raw, outcome="case", body=text, subject=subject, sender=sender, name=name)
    # nesting deeper than any client writes: held with the reason, From still read
    for depth in (45, 120, 1200, 3000):
        k = nxt()
        sender = f"deep{k}@example.cn"
        parts = b"".join(b"--B%d\r\nContent-Type: multipart/mixed; boundary=B%d\r\n\r\n" % (d, d + 1) for d in range(depth))
        raw = head(common(k, sender, "", "nested") + ["Content-Type: multipart/mixed; boundary=B0", ""]) + parts + \
            b"--B%d\r\nContent-Type: text/plain\r\n\r\nhello\r\n" % depth
        c.add("deep_nesting", raw, outcome="held", reason="too_deep", body=None, subject="nested", sender=sender)
    # ---- mail that is not answered ----------------------------------------------------------------
    for i in range(6):  # bounces (RFC 3464) from mail servers
        k = nxt()
        sender = ["MAILER-DAEMON@mx.qq.com", "postmaster@163.com", "mailer-daemon@googlemail.com"][i % 3]
        boundary = f"report{k}"
        raw = head(common(k, sender, "Mail Delivery System", "Undelivered Mail Returned to Sender") + [
            "Auto-Submitted: auto-replied",
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"', ""]) + (
            f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system. Your message "
            f"could not be delivered.\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mx.example.cn\r\n\r\nFinal-Recipient: rfc822; nobody@example.cn\r\nAction: failed\r\n"
            f"Status: 5.1.1\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {HOTLINE}\r\n"
            f"Subject: ack\r\n--{boundary}--\r\n").encode()
        c.add("bounce", raw, outcome="ignored", reason="bounce", body="This is the mail system. Your message could "
              "not be delivered.", subject="Undelivered Mail Returned to Sender", sender=sender)
    autos = [["Auto-Submitted: auto-replied"], ["X-Autoreply: yes"], ["X-Auto-Response-Suppress: All"], []]
    for i in range(8):  # out-of-office answers (RFC 3834 and what Exchange, QQ and 163 write)
        k = nxt()
        sender, name = who(k, "company.cn")
        subject = ["自动回复：您的来信已受理", "Automatic reply: 受理通知", "自動回覆：休假中", "Out of Office: 12345"][i % 4]
        single(c, "auto_reply", k, subject, "您好，我正在休假，12月5日回来后回复您。", "utf-8", sender=sender, name=name,
               extra=autos[i % 4], outcome="ignored", reason="auto_reply")
    for i in range(8):  # list and bulk mail
        k = nxt()
        sender = f"news{k}@lists.example.cn"
        extra = [["List-Id: <weekly.example.cn>", "List-Unsubscribe: <mailto:unsub@example.cn>"],
                 ["Precedence: bulk"], ["Precedence: list", "List-Id: 社区通讯 <community.example.cn>"],
                 ["List-Unsubscribe: <https://example.cn/unsub?id=1>"]][i % 4]
        single(c, "list", k, f"社区通讯第{k}期", "本期内容：社区活动安排、物业通知、便民服务信息。", "utf-8",
               sender=sender, name="社区通讯", extra=extra, outcome="ignored", reason="list")
    for i in range(10):  # the spam filter's verdict in front of the mailbox
        k = nxt()
        sender = f"promo{k}@cheap-invoices.cn"
        extra = [["X-Spam-Flag: YES", "X-Spam-Status: Yes, score=12.3 required=5.0"], ["X-Spam: Yes"],
                 ["X-Rspamd-Action: add header", "X-Spam: yes"], ["X-Spam-Status: Yes, score=7.0"],
                 ["X-Rspamd-Action: rewrite subject"]][i % 5]
        single(c, "spam", k, "代开发票 诚信经营", "代开各类发票，税点低，联系电话13800000000，微信同号。", "gb2312",
               sender=sender, name="财务", extra=extra, outcome="held", reason="spam")
    for i, local in enumerate(["noreply", "no-reply", "do-not-reply", "donotreply", "no_reply", "noreply-notify"]):
        k = nxt()  # machines' notices: nobody reads an answer
        sender = f"{local}@service{k}.cn"
        single(c, "no_reply", k, "您的账户通知", "您的账户已于今日登录，如非本人操作请修改密码。", "utf-8",
               sender=sender, name="服务通知", outcome="ignored", reason="no_reply")
    for i in range(3):  # our own mail come back (a forwarding loop, a test)
        k = nxt()
        single(c, "own_mail", k, "受理通知 [12345-2026112800001]", "您的来信已受理。", "utf-8", sender=HOTLINE,
               name="12345热线", outcome="ignored", reason="own_mail")
    for i in range(6):  # the mail server's SPF/DKIM/DMARC results (RFC 8601) say From is forged
        k = nxt()
        sender, name = who(k, "gov-partner.cn")
        result = ["spf=fail smtp.mailfrom=gov-partner.cn; dkim=none; dmarc=fail (p=reject) header.from=gov-partner.cn",
                  "spf=fail smtp.mailfrom=gov-partner.cn; dkim=fail header.d=gov-partner.cn",
                  "spf=softfail; dkim=fail; dmarc=fail header.from=gov-partner.cn"][i % 3]
        single(c, "auth_fail", k, "投诉：噪音扰民", "隔壁酒吧每晚营业到凌晨三点，噪音扰民严重。", "utf-8", sender=sender,
               name=name, extra=[f"Authentication-Results: mx.city.gov.cn;\r\n\t{result}"], outcome="held",
               reason="auth_fail")
    for i in range(4):  # and where they pass, the mail is a case like any other
        k = nxt()
        sender, name = who(k, "gov-partner.cn")
        result = ["spf=pass smtp.mailfrom=gov-partner.cn; dkim=pass header.d=gov-partner.cn; dmarc=pass",
                  "spf=fail smtp.mailfrom=forwarder.cn; dkim=pass header.d=gov-partner.cn"][i % 2]
        subject, paras = TEXTS[i + 5]
        single(c, "auth_pass", k, subject, plain(paras), "utf-8", sender=sender, name=name,
               extra=[f"Authentication-Results: mx.city.gov.cn; {result}"])
    for i, sender in enumerate(["user@localhost", "user@[203.0.113.7]", "citizen@192.168.1.20", "a..b@qq.com",
                                "test@example", "x@-bad-.cn"]):
        k = nxt()  # senders that cannot be real: held for an agent, not answered
        single(c, "bad_sender", k, "投诉：噪音扰民", "隔壁酒吧每晚营业到凌晨三点，噪音扰民严重。", "utf-8", sender=sender,
               name="", outcome="held", reason="bad_sender")
    # ---- who is greeted, and where answers go ---------------------------------------------------
    tricks = [('"张三 Bcc: victim2@example.cn"', "张三"), ("=?utf-8?B?" + base64.b64encode("李雷\r\nBcc: v@x.cn".encode()).decode()
                                                           + "?=", "李雷"),
              ('"王芳 <boss@city.gov.cn>"', "王芳"), ('"赵敏; To: all@city.gov.cn"', "赵敏"), ('"admin@city.gov.cn"', "")]
    for i, (display, expected_name) in enumerate(tricks):
        k = nxt()
        sender = f"trick{k}@qq.com"
        subject, paras = TEXTS[i]
        raw = head([f"From: {display} <{sender}>", f"To: {HOTLINE}", f"Subject: {word(subject, 'utf-8')}",
                    f"Date: {DATE.format(k % 60)}", f"Message-ID: <trick-{k}@qq.com>", "MIME-Version: 1.0",
                    "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", ""]) + \
            b64(crlf(plain(paras)).encode()) + b"\r\n"
        c.add("display_name", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=expected_name)
    for i in range(3):  # Reply-To the hotline itself, or a stranger: the case's contact is From
        k = nxt()
        sender, name = who(k, "qq.com")
        subject, paras = TEXTS[i + 8]
        single(c, "reply_to", k, subject, plain(paras), "utf-8", sender=sender, name=name,
               extra=[f"Reply-To: {[HOTLINE, 'other@evil.example', HOTLINE.upper()][i]}"])
    # photos with no words (a phone's share button): the subject is the description
    for i, (subject, _) in enumerate([t for t in TEXTS if len(t[0]) >= 5][:4]):  # 5 characters make a description
        k = nxt()
        sender, name = who(k, "139.com")
        boundary = f"photo{k}"
        raw = head(common(k, sender, word(name, "utf-8"), word(subject, "utf-8"), "Android Mail") + [
            f'Content-Type: multipart/mixed; boundary="{boundary}"', ""]) + (
            f"--{boundary}\r\nContent-Type: image/jpeg; name=IMG_2026112{i}.jpg\r\nContent-Disposition: attachment; "
            f"filename=IMG_2026112{i}.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() + b64(JPEG) + \
            f"\r\n--{boundary}--\r\n".encode()
        c.add("photo_only", raw, outcome="case", body=subject, subject=subject, sender=sender, name=name,
              files=[f"IMG_2026112{i}.jpg"])
    # different mails under one Message-ID (relays and broken clients reuse them): each is its own case
    for i in range(3):
        pair = []
        for j in range(2):
            k = nxt()
            sender, name = who(k, "relay.cn")
            subject, paras = TEXTS[10 + 2 * i + j]
            raw = head([f"From: {word(name, 'utf-8')} <{sender}>", f"To: {HOTLINE}", f"Subject: {word(subject, 'utf-8')}",
                        f"Date: {DATE.format(k % 60)}", f"Message-ID: <reused-{i}@relay.cn>", "MIME-Version: 1.0",
                        "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", ""]) + \
                b64(crlf(plain(paras)).encode()) + b"\r\n"
            c.add("reused_message_id", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name=name)
            pair.append(k)
    # no Message-ID at all (some scripts and old clients)
    for i in range(3):
        k = nxt()
        sender, name = who(k, "126.com")
        subject, paras = TEXTS[15 + i]
        raw = head([f"From: {sender}", f"To: {HOTLINE}", f"Subject: {word(subject, 'gbk')}", f"Date: {DATE.format(k % 60)}",
                    "Content-Type: text/plain; charset=gbk", ""]) + crlf(plain(paras)).encode("gbk") + b"\r\n"
        c.add("no_message_id", raw, outcome="case", body=plain(paras), subject=subject, sender=sender, name="")
    return c


def main() -> None:
    corpus = build()
    folder = HERE / "mails"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    for filename, raw, _ in corpus.items:
        (folder / filename).write_bytes(raw)
    manifest = [meta for _, _, meta in corpus.items]
    (HERE / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest)} mails written to {folder}")


if __name__ == "__main__":
    main()
