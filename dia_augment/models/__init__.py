"""ResNet-18 backbones with the projection and shift heads of the amplifying objective."""

from dia_augment.models.dia_resnet import MODEL_NAMES, DIAResNet, ModelOutput, build_model
from dia_augment.models.pretrained import load_pretrained_backbone
from dia_augment.models.resnet import STEMS, BasicBlock, ResNet18Backbone

__all__ = ["MODEL_NAMES", "STEMS", "BasicBlock", "DIAResNet", "ModelOutput", "ResNet18Backbone", "build_model",
           "load_pretrained_backbone"]
