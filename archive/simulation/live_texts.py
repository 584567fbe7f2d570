"""What the simulated programmes say: topics per department, netizens' questions, guests' answers.

Texts are put together from a few templates and each department's own subjects, so that a year of
questions reads like questions (and search, hot topics and similar-question hints have real words
to work on) without a corpus. Every choice goes through the caller's random.Random.
"""

import random

from core.privacy import valid_id_number

# Department code → (programme title, subjects netizens ask about). Districts share a generic set.
TOPICS: dict[str, tuple[str, list[str]]] = {
    "fgw": ("价格监管与重大项目建设", ["水电气价格调整", "停车收费标准", "重点工程进度", "物价补贴"]),
    "jiaowei": ("义务教育入学与学区划分", ["小学入学登记", "学区划分", "课外班收费", "校车安全"]),
    "kw": ("科技成果转化与中关村发展", ["科技企业认定", "创业孵化补贴", "科普场馆开放", "专利资助"]),
    "jxj": ("信息化建设与中小企业服务", ["宽带进社区", "中小企业融资", "信息服务收费", "电子政务"]),
    "mzw": ("少数民族群众生活服务", ["清真食品供应", "民族学校招生", "宗教活动场所", "民族节日保障"]),
    "gaj": ("户籍管理与社会治安", ["户口迁移", "身份证办理", "暂住证", "小区治安巡逻"]),
    "mzj": ("社会救助与养老服务", ["低保申请", "养老院床位", "婚姻登记", "残疾人补贴"]),
    "sfj": ("法律援助与人民调解", ["法律援助申请", "邻里纠纷调解", "公证收费", "社区矫正"]),
    "czj": ("财政预算与惠民资金", ["财政补贴发放", "政府采购", "农村资金投入", "预算公开"]),
    "rsj": ("社会保险与就业服务", ["养老保险转移", "失业登记", "最低工资标准", "职业培训补贴"]),
    "ghzrzyw": ("城市规划与土地利用", ["小区规划变更", "道路规划", "绿地被占", "规划公示"]),
    "sthjj": ("大气污染治理与环境保护", ["工地扬尘", "噪声扰民", "机动车尾气", "垃圾焚烧厂"]),
    "zjw": ("经济适用住房与房屋拆迁", ["经济适用房申请", "拆迁补偿", "物业纠纷", "房屋质量"]),
    "csglw": ("市容环境与垃圾处理", ["垃圾清运", "路灯不亮", "冬季供暖", "占道经营"]),
    "jtw": ("公交线网优化与交通拥堵治理", ["公交线路调整", "一卡通", "出租车打车难", "路口拥堵"]),
    "swj": ("汛期排水与节约用水", ["雨后积水", "自来水水质", "河道治理", "阶梯水价"]),
    "nyncj": ("新农村建设与农民增收", ["农村道路", "农业补贴", "农产品销售", "农村饮水"]),
    "commerce": ("社区商业与菜篮子保障", ["早市撤销", "菜价上涨", "社区便利店", "预付卡退费"]),
    "whlyj": ("公共文化服务与旅游市场", ["图书馆开放时间", "景区门票", "黑导游", "社区文化活动"]),
    "wjw": ("社区卫生服务与看病难问题", ["社区医院", "挂号难", "医疗收费", "疫苗接种"]),
    "yjglj": ("安全生产与应急管理", ["燃气安全", "危险品运输", "应急避难场所", "工地安全"]),
    "scjgj": ("食品安全与消费者权益保护", ["过期食品", "虚假广告", "商品质量投诉", "无照经营"]),
    "tiyuju": ("全民健身与奥运场馆建设", ["健身器材损坏", "体育场馆开放", "奥运场馆进度", "群众体育活动"]),
    "ylj": ("城市绿化与公园管理", ["公园门票", "树木砍伐", "绿化带养护", "杨柳飞絮"]),
    "cgzfj": ("城管执法与街面秩序", ["无照游商", "违法建设", "夜间施工", "小广告"]),
    "wwj": ("文物保护与胡同改造", ["四合院保护", "文物修缮", "胡同拆迁", "博物馆开放"]),
    "tax": ("个人所得税与发票管理", ["个税申报", "发票真伪", "税务登记", "减免税政策"]),
    "jgj": ("交通秩序与驾驶证管理", ["违章查询", "驾照考试", "乱停车", "信号灯配时"]),
    "water": ("城市供水服务", ["停水通知", "水表更换", "水压不足", "水费缴纳"]),
    "power": ("城乡电网改造与供电服务", ["停电检修", "电表改造", "电费缴纳", "农网改造"]),
    "gas": ("燃气供应与安全用气", ["燃气开通", "燃气表", "燃气费", "管道老化"]),
    "heating": ("冬季供热服务", ["暖气不热", "供暖费", "供热管网", "提前供暖"]),
    "buses": ("公交运营服务", ["末班车时间", "公交车站设置", "司机服务态度", "车辆更新"]),
    "subway": ("地铁运营与新线建设", ["地铁票价", "换乘距离", "新线开通", "高峰拥挤"]),
    "telecom": ("固定电话与宽带服务", ["宽带网速", "电话费", "装机时间", "维修服务"]),
    "mobile": ("移动通信服务", ["手机信号", "短信扣费", "资费套餐", "营业厅服务"]),
    "post": ("邮政服务", ["邮件投递", "报刊订阅", "邮政网点", "包裹查询"]),
    "airport": ("机场服务与航班保障", ["航班延误", "机场大巴", "停车收费", "行李托运"]),
}

DISTRICT_TOPICS = ["老旧小区改造", "社区服务中心", "道路修缮", "农贸市场", "街道环境", "便民设施"]

PLACES = [
    "朝阳区望京",
    "海淀区中关村",
    "丰台区方庄",
    "西城区德胜门",
    "东城区和平里",
    "石景山区鲁谷",
    "通州区梨园",
    "昌平区回龙观",
    "大兴区黄村",
    "顺义区后沙峪",
    "房山区良乡",
    "门头沟区城子",
]

QUESTION_TEMPLATES = [
    "我住在{place}，{topic}的问题已经反映很久了，请问什么时候能解决？",
    "请问嘉宾，关于{topic}，今年有什么新政策？",
    "{place}附近{topic}很不方便，希望有关部门重视。",
    "想咨询一下{topic}需要办理哪些手续，去哪里办？",
    "{topic}方面收费是否合理？标准是怎么定的？",
    "听说{topic}要调整，具体什么时间实施？会不会影响居民生活？",
    "我们小区在{place}，{topic}一直没人管，应该找哪个部门？",
    "建议在{topic}上多听听群众意见，能否公开征求意见？",
    "对于{topic}，老百姓最关心的是落实，请问怎么监督？",
    "{topic}的投诉打了几次电话都没有回音，请问还能通过什么渠道反映？",
    "外地来京人员在{topic}方面能享受同样的待遇吗？",
    "请介绍一下{topic}今年的工作计划。",
]

DUPLICATE_TEMPLATES = ["同问：{text}", "我也想问：{text}", "{text}（同问，盼复）"]

ANSWER_TEMPLATES = [
    "感谢这位网友的关注。关于{topic}，我们今年已经列入重点工作，正在抓紧推进，预计年底前见到成效。",
    "这个问题我们了解到了。{topic}涉及多个部门，我们会同有关单位研究，尽快给群众一个答复。",
    "按照现行规定，{topic}可以到所在区县的办事窗口办理，所需材料在我们网站上都有公布。",
    "网友反映的情况我们会派人实地查看，属实的将督促责任单位限期整改。",
    "关于{topic}的标准是经过听证确定的，我们会继续听取市民意见，适时评估调整。",
    "谢谢您的建议。{topic}方面我们下一步将加大监督检查力度，也欢迎市民随时反映问题。",
]

ON_AIR_TEMPLATES = [
    "嘉宾在节目中口头答复：{topic}已纳入今年计划，将分步实施。",
    "嘉宾口头答复：{topic}问题将由相关处室核实后处理。",
    "现场答复：关于{topic}，市民可拨打12345或来信反映，部门限期办理。",
]

REJECT_REASONS = ["与本期主题无关", "内容重复刷屏", "含有人身攻击", "问题表述不清"]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "明华建国伟芳丽军红平强静敏燕霞杰勇涛超娟秀英玉兰志刚立新海波晓东文斌宏伟春梅"

OFFICES = [
    "办公室主任",
    "政策法规处处长",
    "综合处处长",
    "规划处处长",
    "监督检查处处长",
    "宣传处处长",
    "计划财务处处长",
    "信访办主任",
    "执法总队队长",
    "服务中心主任",
    "行政审批处处长",
    "副主任",
]

NICKNAMES = [
    "网友",
    "热心市民",
    "老北京",
    "上班族",
    "退休教师",
    "小区居民",
    "大学生",
    "外地来京人员",
    "社区志愿者",
    "出租车司机",
    "个体户",
    "年轻妈妈",
    "老党员",
    "IT民工",
]

REVIEW_SENTENCES = ["有人说再不解决就去上访。", "我怀疑这里面有腐败。"]
BLOCKED_SENTENCES = ["另外，需要代开发票的请联系我。", "买六合彩稳赚不赔。"]


def topic_of(code: str, short_name: str, rng: random.Random) -> tuple[str, list[str]]:
    """A programme's title and subjects: the department's own, or a district's generic set."""
    if code in TOPICS:
        return TOPICS[code]
    subjects = rng.sample(DISTRICT_TOPICS, 4)
    return f"{short_name}{subjects[0]}与民生实事", subjects


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def question_text(subjects: list[str], rng: random.Random) -> str:
    return rng.choice(QUESTION_TEMPLATES).format(topic=rng.choice(subjects), place=rng.choice(PLACES))


def duplicate_of(text: str, rng: random.Random) -> str:
    return rng.choice(DUPLICATE_TEMPLATES).format(text=text)[:500]


def answer_text(subjects: list[str], rng: random.Random, on_air: bool) -> str:
    templates = ON_AIR_TEMPLATES if on_air else ANSWER_TEMPLATES
    return rng.choice(templates).format(topic=rng.choice(subjects))


def nickname(rng: random.Random) -> str:
    place = rng.choice(PLACES)[:3]
    return rng.choice([rng.choice(NICKNAMES), place + "网友", place + rng.choice(NICKNAMES)])


def mobile_number(rng: random.Random) -> str:
    return rng.choice(["139", "138", "136", "135", "133", "130"]) + f"{rng.randrange(10**8):08d}"


def id_number(rng: random.Random) -> str:
    """A resident ID number (GB 11643) of a Beijing district, with a correct check character."""
    born = f"{rng.randrange(1940, 1986)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    first = f"1101{rng.randrange(1, 9):02d}{born}{rng.randrange(1000):03d}"
    return next(first + check for check in "0123456789X" if valid_id_number(first + check))


def with_personal_data(text: str, rng: random.Random) -> tuple[str, str]:
    """The question with the netizen's own phone or ID number in it, and that number."""
    if rng.random() < 0.6:
        number = mobile_number(rng)
        return f"{text}我的电话是{number}，请相关部门联系我。", number
    number = id_number(rng)
    return f"{text}我的身份证号{number}，材料交了半年还没有结果。", number
