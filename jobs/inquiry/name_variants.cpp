#include "jobs/inquiry/name_variants.hpp"

#include <algorithm>
#include <array>

namespace taxdesk::jobs::inquiry {
namespace {

constexpr char32_t kMiddleDot = 0x00B7;  // ·

// Every entry is one character written two ways: the registry holds one form, a creditor's spreadsheet or phone
// the other. The canonical side is the form of the Ministry of Education's standard (國字標準字體) that the
// household registry uses. Characters that merely look alike, or that are different names (杰/傑, 岳/嶽), are
// deliberately absent, and so are simplified forms that stand for more than one traditional character (冲 for
// 沖 and 衝, 发 for 發 and 髮): folding those would make different names match. Order does not matter here; the
// table is sorted at compile time.
constexpr std::array kTable = std::to_array<VariantPair>({
    // The middle dot between the parts of aboriginal and foreign names (瓦旦·達利), typed in whatever form the
    // keyboard offers. The ASCII full stop belongs here because its full-width form ． is one of them.
    {0x002E, kMiddleDot},  // .  full stop
    {0x2022, kMiddleDot},  // •  bullet
    {0x2027, kMiddleDot},  // ‧  hyphenation point (the registry's own)
    {0x30FB, kMiddleDot},  // ・ katakana middle dot
    {0xFF0E, kMiddleDot},  // ． full-width full stop
    {0xFF65, kMiddleDot},  // ･  half-width katakana middle dot

    // Variant characters.
    {0x53F0, 0x81FA},  // 台 → 臺  臺灣, 臺北, 臺積電: the most common of all
    {0x5CEF, 0x5CF0},  // 峯 → 峰
    {0x7FA3, 0x7FA4},  // 羣 → 群
    {0x88CF, 0x88E1},  // 裏 → 裡
    {0x7DAB, 0x7DDA},  // 綫 → 線
    {0x5553, 0x555F},  // 啓 → 啟
    {0x6052, 0x6046},  // 恒 → 恆
    {0x6E29, 0x6EAB},  // 温 → 溫
    {0x9EC4, 0x9EC3},  // 黄 → 黃  surname
    {0x5434, 0x5433},  // 吴 → 吳  surname
    {0x5415, 0x5442},  // 吕 → 呂  surname
    {0x7240, 0x5E8A},  // 牀 → 床
    {0x9DC4, 0x96DE},  // 鷄 → 雞
    {0x5374, 0x537B},  // 却 → 卻
    {0x7232, 0x70BA},  // 爲 → 為
    {0x4E3A, 0x70BA},  // 为 → 為  (the simplified form stands for 為 only)
    {0x6DF8, 0x6E05},  // 淸 → 清
    {0x8AAC, 0x8AAA},  // 説 → 說
    {0x92ED, 0x92B3},  // 鋭 → 銳
    {0x7A0E, 0x7A05},  // 税 → 稅
    {0x5185, 0x5167},  // 内 → 內  內湖
    {0x4E89, 0x722D},  // 争 → 爭
    {0x8846, 0x773E},  // 衆 → 眾
    {0x518C, 0x518A},  // 册 → 冊
    {0x8218, 0x9928},  // 舘 → 館
    {0x920E, 0x9264},  // 鈎 → 鉤
    {0x7DD1, 0x7DA0},  // 緑 → 綠
    {0x9332, 0x9304},  // 録 → 錄
    {0x664B, 0x6649},  // 晋 → 晉  surname
    {0x5151, 0x514C},  // 兑 → 兌
    {0x51B5, 0x6CC1},  // 况 → 況
    {0x51C9, 0x6DBC},  // 凉 → 涼
    {0x9115, 0x9109},  // 鄕 → 鄉
    {0x9EAA, 0x9EB5},  // 麪 → 麵
    {0x654D, 0x6558},  // 敍 → 敘
    {0x53D9, 0x6558},  // 叙 → 敘
    {0x5BDB, 0x5BEC},  // 寛 → 寬
    {0x6237, 0x6236},  // 户 → 戶
    {0x6238, 0x6236},  // 戸 → 戶
    {0x7CA7, 0x599D},  // 粧 → 妝  化粧品 in company names
    {0x79D8, 0x7955},  // 秘 → 祕
    {0x8471, 0x8525},  // 葱 → 蔥
    {0x59EB, 0x59EC},  // 姫 → 姬  given names
    {0x771E, 0x771F},  // 眞 → 真  given names
    {0x7476, 0x7464},  // 瑶 → 瑤  given names
    {0x5FB3, 0x5FB7},  // 徳 → 德  given names
    {0x5897, 0x589E},  // 増 → 增
    {0x9ED2, 0x9ED1},  // 黒 → 黑
});

constexpr auto kSorted = [] {
    auto table = kTable;
    std::sort(table.begin(), table.end(), [](VariantPair a, VariantPair b) { return a.variant < b.variant; });
    return table;
}();

// A variant listed twice, or a canonical form that is itself listed as a variant, would make the fold depend on
// the order of look-ups: rule both out where the table is written.
constexpr bool wellFormed() {
    for (std::size_t i = 0; i < kSorted.size(); ++i) {
        if (i > 0 && kSorted[i - 1].variant == kSorted[i].variant) return false;
        if (kSorted[i].variant == kSorted[i].canonical) return false;
        for (const VariantPair& other : kSorted) {
            if (other.variant == kSorted[i].canonical) return false;
        }
    }
    return true;
}
static_assert(wellFormed(), "name variant table: a duplicate variant, or a canonical form listed as a variant");

}  // namespace

std::span<const VariantPair> nameVariants() noexcept {
    return kSorted;
}

char32_t canonicalCharacter(char32_t cp) noexcept {
    const auto* found = std::lower_bound(kSorted.begin(), kSorted.end(), cp,
                                         [](VariantPair pair, char32_t value) { return pair.variant < value; });
    return found != kSorted.end() && found->variant == cp ? found->canonical : cp;
}

}  // namespace taxdesk::jobs::inquiry
