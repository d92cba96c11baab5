"""A valid sample subject for every shipped credential type, for any test to import.

``SAMPLE_SUBJECTS`` is keyed by the type's ``code`` (the slug, e.g. ``business-licence``);
``SAMPLE_SUBJECTS_BY_TYPE_CODE`` by its GB/T 36904 证照类型代码. The codes below carry real check
characters, computed once with python-stdnum and hard-coded:

- USCCs: ``stdnum.cn.uscc.calc_check_digit`` over the first 17 characters;
- ID numbers: ``stdnum.cn.ric.calc_check_digit`` over the first 17 digits.

The subjects are valid on :data:`SAMPLE_TODAY`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

SAMPLE_TODAY = date(2025, 6, 1)

USCC_HANGZHOU = "91330106MA2H0XK7P7"  # 杭州西湖区
USCC_SUZHOU = "91320594MA1MXL3W0D"  # 苏州工业园区
USCC_JIAXING = "92330402MA2B0FJ9CF"  # 嘉兴南湖区 (个体工商户)
USCC_HEFEI = "91340100MA2NTQ8R53"  # 合肥
PILOT_USCC = "91350100M0001TGQXM"  # early pilot code: its check character is wrong

ID_MALE_1985 = "330106198506151233"  # 杭州西湖区, 1985-06-15, 男
ID_FEMALE_1992 = "340102199203082462"  # 合肥瑶海区, 1992-03-08, 女
ID_DOMAIN_VECTOR = "11010519491231002X"  # DOMAIN-CN vector: 北京朝阳区, 1949-12-31, 女

SAMPLE_SUBJECTS: dict[str, dict[str, Any]] = {
    "business-licence": {
        "name": "杭州云栖数字科技有限公司",
        "uscc": USCC_HANGZHOU,
        "entity_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": "张伟",
        "registered_capital": "1000万元人民币",
        "established_on": "2019-03-18",
        "address": "浙江省杭州市西湖区云栖小镇云梦路 8 号",
        "business_scope": "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广。",
    },
    "food-business-permit": {
        "name": "嘉兴南湖区禾味小吃店",
        "uscc": USCC_JIAXING,
        "legal_representative": "李娜",
        "address": "浙江省嘉兴市南湖区中山东路 100 号",
        "premises": "浙江省嘉兴市南湖区中山东路 100 号一层",
        "business_format": "小餐饮",
        "business_items": "热食类食品制售",
        "licence_no": "JY23304020012345",
        "valid_until": "2029-05-31",
        "supervisory_authority": "嘉兴市南湖区市场监督管理局",
        "complaint_phone": "12315",
    },
    "drug-trading-permit": {
        "licence_no": "皖AA5510001",
        "name": "合肥康宁医药有限公司",
        "uscc": USCC_HEFEI,
        "legal_representative": "王强",
        "principal": "王强",
        "quality_manager": "刘芳",
        "registered_address": "安徽省合肥市蜀山区长江西路 200 号",
        "warehouse_address": "安徽省合肥市肥西县桃花工业园 9 号",
        "business_mode": "批发",
        "business_scope": "中成药、化学药制剂、抗生素制剂、生化药品、生物制品（除疫苗）",
        "valid_until": "2028-12-31",
    },
    "industrial-production-permit": {
        "name": "苏州工业园区精工电线电缆有限公司",
        "uscc": USCC_SUZHOU,
        "address": "江苏省苏州市苏州工业园区星湖街 328 号",
        "production_address": "江苏省苏州市苏州工业园区星湖街 328 号 3 号厂房",
        "product_name": "电线电缆",
        "licence_no": "(苏)XK06-001-00123",
        "valid_until": "2029-10-08",
    },
    "resident-eid": {
        "name": "陈晓明",
        "id_number": ID_MALE_1985,
        "sex": "男",
        "ethnicity": "汉",
        "birth_date": "1985-06-15",
        "address": "浙江省杭州市西湖区文三路 90 号",
    },
    "driving-licence": {
        "name": "周敏",
        "id_number": ID_FEMALE_1992,
        "sex": "女",
        "nationality": "中国",
        "address": "安徽省合肥市瑶海区长江东路 1 号",
        "birth_date": "1992-03-08",
        "first_issued_on": "2012-07-20",
        "vehicle_classes": "C1",
        "valid_from": "2018-07-20",
        "valid_until": "2028-07-20",
        "file_no": "340100123456",
    },
    "no-housing-proof": {
        "name": "陈晓明",
        "id_number": ID_MALE_1985,
        "query_region": "330100",
        "result": "在查询范围内无登记住房",
        "purpose": "公积金提取",
        "issued_on": "2025-05-30",
    },
}

_TYPE_CODES = {
    "business-licence": "11100000000013338W001",
    "food-business-permit": "11100000000013338W002",
    "drug-trading-permit": "11100000000013338W003",
    "industrial-production-permit": "11100000000013338W004",
    "resident-eid": "11100000000013338W005",
    "driving-licence": "11100000000013338W006",
    "no-housing-proof": "11100000000013338W007",
}
SAMPLE_SUBJECTS_BY_TYPE_CODE: dict[str, dict[str, Any]] = {
    _TYPE_CODES[code]: subject for code, subject in SAMPLE_SUBJECTS.items()
}
