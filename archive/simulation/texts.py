"""What the simulated netizens write and the departments answer: plausible, short, varied enough
for the hot topics and the search to have something to find. Drawn from the simulation's own rng."""

import random

PLACES = [
    "东城区",
    "西城区",
    "朝阳区",
    "海淀区",
    "丰台区",
    "石景山区",
    "通州区",
    "昌平区",
    "大兴区",
    "顺义区",
    "房山区",
    "门头沟区",
]

TOPICS = {
    "consultation": [
        "暂住证办理需要哪些材料",
        "社保转移接续怎么办理",
        "公积金提取流程",
        "新生儿户口如何申报",
        "居住证办理时限",
        "小学入学需要什么证明",
        "残疾人补贴如何申请",
        "营业执照变更手续",
        "医保异地报销咨询",
        "出租房屋备案怎么办",
        "经济适用房申请条件",
        "机动车年检地点咨询",
    ],
    "opinion": [
        "公交车发车间隔太长",
        "地铁换乘通道拥挤",
        "政务网站办事指南不清楚",
        "社区医院周末不开门",
        "办事窗口排队时间长",
        "路名标识不清",
        "小区垃圾清运不及时",
    ],
    "suggestion": [
        "建议增设公交线路",
        "建议路口增加左转信号灯",
        "建议社区增设便民菜站",
        "建议公园延长开放时间",
        "建议增加自行车停放区",
        "建议公开汛期积水点",
        "建议增加儿科夜间门诊",
    ],
    "report": [
        "有人在河道倾倒垃圾",
        "无证经营的小作坊",
        "工地夜间违规施工",
        "违法建设占用绿地",
        "黑车在地铁站口揽客",
        "餐馆油烟直排",
    ],
    "complaint": [
        "小区停水三天无人处理",
        "暖气不热",
        "出租车拒载",
        "施工噪音扰民",
        "人行道被占用经营",
        "物业乱收费",
        "道路积水严重",
        "路灯长期不亮",
        "供电频繁中断",
    ],
    "thanks": [
        "感谢及时解决供暖问题",
        "感谢热心帮助找回失物",
        "感谢尽快修复路灯",
        "感谢耐心解答社保问题",
    ],
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
TITLES = ["先生", "女士", "同志", "网友"]

REPLIES = [
    "<p>您反映的问题已收悉。经核实，我们已协调相关单位处理，现已整改完毕。感谢您的监督。</p>",
    "<p>您好！您咨询的事项办理流程和所需材料已在我单位网站公布，也可拨打服务电话咨询。</p>",
    "<p>感谢您的建议。我们已将其纳入下一阶段工作计划研究，并将适时向社会公布进展。</p>",
    "<p>经现场核查，您反映的情况属实，执法人员已依法处理，并将加强日常巡查。</p>",
]

COMMENTS = {
    "satisfied": ["处理及时，谢谢", "答复清楚", "满意", ""],
    "basic": ["基本解决了", "希望以后更快一些", ""],
    "unsatisfied": ["问题没有解决", "答复敷衍", "没有人联系我"],
}

RETURN_REASONS = ["此事项不属于本单位职责，请转相关部门办理。", "经核实，该地址属其他区管辖。"]
EXTENSION_REASONS = ["需要多个部门联合核查，申请延期答复。", "需现场勘查并等待检测结果。"]
REDO_REASONS = ["答复未回应来信人的具体诉求，请重新办理。", "来信人反映问题仍未解决，请核实后重新答复。"]


def letter(rng: random.Random, kind: str, serial: int) -> dict:
    """The fields a netizen fills in (letters.services.submit's `data`)."""
    place = rng.choice(PLACES)
    topic = rng.choice(TOPICS[kind])
    return {
        "kind": kind,
        "subject": f"{place}{topic}",
        "body": f"我住在{place}，{topic}。已经反映过一段时间，希望有关部门能够尽快核实并给予答复。",
        "name": rng.choice(SURNAMES) + rng.choice(TITLES),
        # Not a real number: 138 0000 and the letter's serial (private in any case).
        "contact": f"1380000{serial % 10000:04d}",
        "public": rng.random() < 0.85,
        "consent": True,
    }
